// The tokens nodes show each other: what passes, and each rejection.
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { Authorizer } from "../../../src/auth/authorizer.ts";
import { ClusterTokens, looksLikeClusterToken } from "../../../src/auth/clusterToken.ts";
import { loadConfig } from "../../../src/config.ts";

const SECRET = "cluster-secret-0123456789";
const tokens = new ClusterTokens(SECRET);
const key = new TextEncoder().encode(SECRET);

describe("cluster tokens", () => {
  it("carry the node that signed them", async () => {
    const t = await tokens.sign("Ab_-");
    expect(await tokens.verify(t)).toEqual({ ok: true, node: "Ab_-" });
  });

  it("pass within the clock tolerance, and are refused as expired past it", async () => {
    const now = Date.now();
    const t = await tokens.sign("AAAA", { now, ttlSec: 60 });
    expect(await tokens.verify(t, { now: now + 64_000 })).toEqual({ ok: true, node: "AAAA" });
    expect(await tokens.verify(t, { now: now + 66_000 })).toEqual({ ok: false, reason: "expired" });
    // From a node whose clock runs a little ahead.
    expect(await tokens.verify(await tokens.sign("AAAA", { now: now + 3000 }), { now })).toEqual({ ok: true, node: "AAAA" });
  });

  it("are refused when issued long ago, whatever their exp says", async () => {
    const now = Date.now();
    const t = await tokens.sign("AAAA", { now, ttlSec: 3600 });
    expect(await tokens.verify(t, { now: now + 10 * 60_000 })).toMatchObject({ ok: false });
  });

  it("are refused when signed with another secret, forged, or not a JWT", async () => {
    const other = await new ClusterTokens("another-secret-0123456789").sign("AAAA");
    expect(await tokens.verify(other)).toEqual({ ok: false, reason: "invalid" });
    const good = await tokens.sign("AAAA");
    const [h, , s] = good.split(".");
    const forgedPayload = Buffer.from(JSON.stringify({ cluster: true, node: "EVIL", aud: "roomcast-cluster", iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 60 })).toString("base64url");
    expect(await tokens.verify(`${h}.${forgedPayload}.${s}`)).toEqual({ ok: false, reason: "invalid" });
    const unsigned = `${Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url")}.${forgedPayload}.`;
    expect(await tokens.verify(unsigned)).toEqual({ ok: false, reason: "invalid" });
    for (const junk of ["", "abc", "a.b.c", "Bearer x"]) expect(await tokens.verify(junk)).toEqual({ ok: false, reason: "invalid" });
  });

  it("refuse a room JWT signed with the same secret, and a cluster-looking one without a node", async () => {
    const iat = Math.floor(Date.now() / 1000);
    const roomJwt = await new SignJWT({ room: "*", can: ["play"] }).setProtectedHeader({ alg: "HS256" }).setIssuedAt(iat).setExpirationTime(iat + 60).sign(key);
    expect(await tokens.verify(roomJwt)).toEqual({ ok: false, reason: "not a cluster token" });
    const withAud = await new SignJWT({ room: "*" }).setProtectedHeader({ alg: "HS256" }).setAudience("roomcast-cluster").setIssuedAt(iat).setExpirationTime(iat + 60).sign(key);
    expect(await tokens.verify(withAud)).toEqual({ ok: false, reason: "not a cluster token" });
    const badNode = await new SignJWT({ cluster: true, node: "not-a-node" }).setProtectedHeader({ alg: "HS256" }).setAudience("roomcast-cluster").setIssuedAt(iat).setExpirationTime(iat + 60).sign(key);
    expect(await tokens.verify(badNode)).toEqual({ ok: false, reason: "not a cluster token" });
    // Each guard on its own: a JWT naming a node but lacking the audience, or the cluster claim, is not ours.
    const sign = (claims: Record<string, unknown>, aud?: string) => {
      const jwt = new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setIssuedAt(iat).setExpirationTime(iat + 60);
      return (aud ? jwt.setAudience(aud) : jwt).sign(key);
    };
    expect(await tokens.verify(await sign({ room: "*", node: "AAAA" }))).toEqual({ ok: false, reason: "not a cluster token" });
    expect(await tokens.verify(await sign({ cluster: true, node: "AAAA" }))).toEqual({ ok: false, reason: "not a cluster token" });
    expect(await tokens.verify(await sign({ cluster: true, node: "AAAA" }, "someone-else"))).toEqual({ ok: false, reason: "not a cluster token" });
    expect(await tokens.verify(await sign({ node: "AAAA" }, "roomcast-cluster"))).toEqual({ ok: false, reason: "not a cluster token" });
    expect(await tokens.verify(await sign({ cluster: "true", node: "AAAA" }, "roomcast-cluster"))).toEqual({ ok: false, reason: "not a cluster token" });
    expect(await tokens.verify(await sign({ cluster: true, node: "AAAA" }, "roomcast-cluster"))).toEqual({ ok: true, node: "AAAA" });
    const noExp = await new SignJWT({ cluster: true, node: "AAAA" }).setProtectedHeader({ alg: "HS256" }).setAudience("roomcast-cluster").setIssuedAt(iat).sign(key);
    expect(await tokens.verify(noExp)).toMatchObject({ ok: false });
  });

  it("open no room when JWT_SECRET is the same secret", async () => {
    const auth = new Authorizer(loadConfig({ JWT_SECRET: SECRET }));
    const decision = await auth.authorizeRoom(await tokens.sign("AAAA"), "demo", "play");
    expect(decision).toMatchObject({ ok: false, status: 403 });
  });

  it("grants: one room and action for a redirected client, never a cluster token, refused when forged or late", async () => {
    const now = Date.now();
    const g = await tokens.signGrant("AAAA", { room: "show", action: "publish", ladder: "720p,360p" }, { now });
    expect(await tokens.verifyGrant(g, { now })).toEqual({ ok: true, node: "AAAA", grant: { room: "show", action: "publish", ladder: "720p,360p" } });
    expect(await tokens.verifyGrant(await tokens.signGrant("AAAA", { room: "show", action: "play" }))).toEqual({ ok: true, node: "AAAA", grant: { room: "show", action: "play", ladder: undefined } });
    expect(await tokens.verifyGrant(g, { now: now + 66_000 })).toEqual({ ok: false, reason: "expired" });
    // Neither passes for the other: a grant opens one room, a cluster token every node-to-node request.
    expect(await tokens.verify(g)).toMatchObject({ ok: false });
    expect(await tokens.verifyGrant(await tokens.sign("AAAA"))).toEqual({ ok: false, reason: "invalid" });
    expect(looksLikeClusterToken(g)).toBe(false);
    expect(looksLikeClusterToken(await tokens.sign("AAAA"))).toBe(true);
    expect(await new ClusterTokens("another-secret-0123456789").verifyGrant(g)).toEqual({ ok: false, reason: "invalid" });
    const iat = Math.floor(now / 1000);
    const odd = (grant: unknown) => new SignJWT({ node: "AAAA", grant }).setProtectedHeader({ alg: "HS256" }).setAudience("roomcast-grant").setIssuedAt(iat).setExpirationTime(iat + 60).sign(key);
    for (const bad of [{ room: "show", action: "admin" }, { room: 5, action: "play" }, "show", { room: "show", action: "play", ladder: 3 }]) {
      expect(await tokens.verifyGrant(await odd(bad))).toEqual({ ok: false, reason: "invalid" });
    }
    // Nor is a grant a room JWT under a shared JWT_SECRET: it has no room claim of that kind.
    expect(await new Authorizer(loadConfig({ JWT_SECRET: SECRET })).authorizeRoom(g, "show", "publish")).toMatchObject({ ok: false });
  });

  it("need a secret", () => {
    expect(() => new ClusterTokens("")).toThrow(TypeError);
  });
});
