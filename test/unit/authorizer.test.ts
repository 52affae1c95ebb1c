import { SignJWT, UnsecuredJWT } from "jose";
import { describe, expect, it } from "vitest";
import { Authorizer, extractToken, type AuthDecision } from "../../src/auth/authorizer.ts";
import { loadConfig, type Env } from "../../src/config.ts";

const SECRET = "unit-test-jwt-secret-0123456789abcdef";
const now = () => Math.floor(Date.now() / 1000);

function authorizer(env: Env): Authorizer {
  return new Authorizer(loadConfig(env));
}

async function jwt(payload: Record<string, unknown>, opts: { secret?: string; exp?: number | null } = {}): Promise<string> {
  const builder = new SignJWT(payload).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setIssuedAt();
  const exp = opts.exp === undefined ? now() + 3600 : opts.exp;
  if (exp !== null) builder.setExpirationTime(exp);
  return builder.sign(new TextEncoder().encode(opts.secret ?? SECRET));
}

function refused(d: AuthDecision): { status: number; reason: string } {
  expect(d.ok).toBe(false);
  if (d.ok) throw new Error("unreachable");
  return { status: d.status, reason: d.reason };
}

describe("Authorizer.authorizeRoom", () => {
  it("is open when nothing is configured", async () => {
    const a = authorizer({});
    expect(a.enabled).toBe(false);
    expect(await a.authorizeRoom(undefined, "demo", "publish")).toEqual({ ok: true, via: "open" });
    expect(await a.authorizeRoom("anything", "demo", "play")).toEqual({ ok: true, via: "open" });
  });

  it("refuses a missing token with 401 once any auth is configured", async () => {
    for (const env of [{ AUTH_TOKEN: "a" }, { ROOM_TOKENS: "demo:t" }, { JWT_SECRET: SECRET }, { ADMIN_TOKEN: "adm" }]) {
      const a = authorizer(env);
      expect(a.enabled).toBe(true);
      expect(refused(await a.authorizeRoom(undefined, "demo", "play"))).toEqual({ status: 401, reason: "missing token" });
    }
  });

  describe("room tokens", () => {
    const a = authorizer({ ROOM_TOKENS: "demo:demo-secret,stage:stage-secret" });

    it("open their own room for both actions", async () => {
      expect(await a.authorizeRoom("demo-secret", "demo", "publish")).toEqual({ ok: true, via: "room-token" });
      expect(await a.authorizeRoom("demo-secret", "demo", "play")).toEqual({ ok: true, via: "room-token" });
      expect(await a.authorizeRoom("stage-secret", "stage", "play")).toEqual({ ok: true, via: "room-token" });
    });

    it("do not open another room (401)", async () => {
      expect(refused(await a.authorizeRoom("demo-secret", "stage", "play")).status).toBe(401);
      expect(refused(await a.authorizeRoom("demo-secret", "other", "publish")).status).toBe(401);
    });

    it("must match exactly", async () => {
      expect(refused(await a.authorizeRoom("demo-secre", "demo", "play")).status).toBe(401);
      expect(refused(await a.authorizeRoom("demo-secret ", "demo", "play")).status).toBe(401);
      expect(refused(await a.authorizeRoom("DEMO-SECRET", "demo", "play")).status).toBe(401);
    });
  });

  describe("AUTH_TOKEN", () => {
    const a = authorizer({ AUTH_TOKEN: "global-secret" });

    it("opens every room", async () => {
      expect(await a.authorizeRoom("global-secret", "demo", "publish")).toEqual({ ok: true, via: "auth-token" });
      expect(await a.authorizeRoom("global-secret", "another_room", "play")).toEqual({ ok: true, via: "auth-token" });
    });

    it("refuses other tokens with 401", async () => {
      expect(refused(await a.authorizeRoom("global-secrets", "demo", "publish"))).toEqual({ status: 401, reason: "unknown token" });
    });

    it("is tried after the room token (reference order)", async () => {
      const both = authorizer({ ROOM_TOKENS: "demo:shared", AUTH_TOKEN: "shared" });
      expect(await both.authorizeRoom("shared", "demo", "play")).toEqual({ ok: true, via: "room-token" });
      expect(await both.authorizeRoom("shared", "other", "play")).toEqual({ ok: true, via: "auth-token" });
    });
  });

  describe("JWT (HS256)", () => {
    const a = authorizer({ JWT_SECRET: SECRET });

    it("accepts a token for the room with exp", async () => {
      const d = await a.authorizeRoom(await jwt({ room: "demo" }), "demo", "publish");
      expect(d).toEqual({ ok: true, via: "jwt", claims: { room: "demo", can: undefined, ladder: undefined } });
    });

    it("requires exp (401)", async () => {
      expect(refused(await a.authorizeRoom(await jwt({ room: "demo" }, { exp: null }), "demo", "play")).status).toBe(401);
    });

    it("refuses an expired token (401)", async () => {
      const d = await a.authorizeRoom(await jwt({ room: "demo" }, { exp: now() - 60 }), "demo", "play");
      expect(refused(d)).toEqual({ status: 401, reason: "token expired" });
    });

    it("refuses a token signed with another secret (401)", async () => {
      const token = await jwt({ room: "demo" }, { secret: "some-other-secret-0123456789abcdef" });
      expect(refused(await a.authorizeRoom(token, "demo", "play"))).toEqual({ status: 401, reason: "invalid token" });
    });

    it("refuses a forged payload under a valid signature (401)", async () => {
      const [header, , signature] = (await jwt({ room: "demo" })).split(".");
      const forged = Buffer.from(JSON.stringify({ room: "*", exp: now() + 3600 })).toString("base64url");
      const token = `${header}.${forged}.${signature}`;
      expect(refused(await a.authorizeRoom(token, "other", "publish"))).toEqual({ status: 401, reason: "invalid token" });
    });

    it('refuses alg "none" (401)', async () => {
      const token = new UnsecuredJWT({ room: "demo" }).setExpirationTime(now() + 3600).encode();
      expect(token.endsWith(".")).toBe(true);
      expect(refused(await a.authorizeRoom(token, "demo", "play")).status).toBe(401);
    });

    it("refuses HS512 (only HS256 is allowed)", async () => {
      const token = await new SignJWT({ room: "demo" })
        .setProtectedHeader({ alg: "HS512" })
        .setExpirationTime(now() + 3600)
        .sign(new TextEncoder().encode(SECRET));
      expect(refused(await a.authorizeRoom(token, "demo", "play")).status).toBe(401);
    });

    it("refuses a token for another room (403)", async () => {
      const d = await a.authorizeRoom(await jwt({ room: "other" }), "demo", "play");
      expect(refused(d)).toEqual({ status: 403, reason: 'token is for room "other"' });
    });

    it("refuses a token without a room claim (403)", async () => {
      expect(refused(await a.authorizeRoom(await jwt({}), "demo", "play")).status).toBe(403);
      expect(refused(await a.authorizeRoom(await jwt({ room: 7 }), "demo", "play")).status).toBe(403);
    });

    it('accepts room "*" for any room', async () => {
      const token = await jwt({ room: "*" });
      expect((await a.authorizeRoom(token, "demo", "publish")).ok).toBe(true);
      expect(await a.authorizeRoom(token, "zzz", "play")).toMatchObject({ ok: true, via: "jwt", claims: { room: "*" } });
    });

    it("refuses an action missing from can (403)", async () => {
      const d = await a.authorizeRoom(await jwt({ room: "demo", can: ["play"] }), "demo", "publish");
      expect(refused(d)).toEqual({ status: 403, reason: "token does not allow publish" });
      expect(refused(await a.authorizeRoom(await jwt({ room: "demo", can: [] }), "demo", "play")).status).toBe(403);
    });

    it("accepts an action listed in can", async () => {
      const token = await jwt({ room: "demo", can: ["play"], ladder: "low" });
      expect(await a.authorizeRoom(token, "demo", "play")).toEqual({
        ok: true,
        via: "jwt",
        claims: { room: "demo", can: ["play"], ladder: "low" },
      });
      expect((await a.authorizeRoom(await jwt({ room: "demo", can: ["publish", "play"] }), "demo", "publish")).ok).toBe(true);
    });

    it("refuses a malformed can claim (403)", async () => {
      for (const can of ["publish", ["publish", "admin"], [1], { publish: true }, null]) {
        const d = await a.authorizeRoom(await jwt({ room: "demo", can }), "demo", "publish");
        expect(refused(d).status, JSON.stringify(can)).toBe(403);
      }
    });

    it("refuses a string that is not a JWT (401)", async () => {
      expect(refused(await a.authorizeRoom("not-a-jwt", "demo", "play")).status).toBe(401);
      expect(refused(await a.authorizeRoom("a.b.c", "demo", "play")).status).toBe(401);
    });
  });

  describe("ADMIN_TOKEN", () => {
    it("opens every room and the admin endpoints", async () => {
      const a = authorizer({ ADMIN_TOKEN: "admin-secret" });
      expect(await a.authorizeRoom("admin-secret", "demo", "publish")).toEqual({ ok: true, via: "admin-token" });
      expect(await a.authorizeRoom("admin-secret", "other", "play")).toEqual({ ok: true, via: "admin-token" });
      expect(a.authorizeAdmin("admin-secret")).toEqual({ ok: true, via: "admin-token" });
      expect(a.isAdmin("admin-secret")).toBe(true);
    });

    it("opens rooms alongside JWT_SECRET even when it looks like a JWT", async () => {
      const a = authorizer({ ADMIN_TOKEN: "adm.in.secret", JWT_SECRET: SECRET });
      expect(await a.authorizeRoom("adm.in.secret", "demo", "publish")).toEqual({ ok: true, via: "admin-token" });
    });

    it("is the only token the admin endpoint accepts", async () => {
      const a = authorizer({
        ADMIN_TOKEN: "admin-secret",
        AUTH_TOKEN: "global-secret",
        ROOM_TOKENS: "demo:demo-secret",
        JWT_SECRET: SECRET,
      });
      expect(refused(a.authorizeAdmin("global-secret"))).toEqual({ status: 401, reason: "admin token required" });
      expect(refused(a.authorizeAdmin("demo-secret")).status).toBe(401);
      expect(refused(a.authorizeAdmin(await jwt({ room: "*" }))).status).toBe(401);
      expect(refused(a.authorizeAdmin(undefined))).toEqual({ status: 401, reason: "missing token" });
      expect(a.isAdmin("global-secret")).toBe(false);
    });

    it("keeps the admin endpoint closed when no admin token is configured", () => {
      const a = authorizer({ AUTH_TOKEN: "global-secret" });
      expect(refused(a.authorizeAdmin("global-secret")).status).toBe(401);
      expect(refused(authorizer({}).authorizeAdmin("anything")).status).toBe(401);
      expect(authorizer({}).isAdmin(undefined)).toBe(false);
    });
  });
});

describe("extractToken", () => {
  it("reads Authorization: Bearer", () => {
    expect(extractToken(new Headers({ Authorization: "Bearer abc.def" }))).toBe("abc.def");
    expect(extractToken(new Headers({ authorization: "bearer   tok  " }))).toBe("tok");
  });

  it("reads X-Auth-Token", () => {
    expect(extractToken(new Headers({ "X-Auth-Token": "  xtok " }))).toBe("xtok");
  });

  it("prefers Bearer over X-Auth-Token", () => {
    expect(extractToken(new Headers({ Authorization: "Bearer first", "X-Auth-Token": "second" }))).toBe("first");
  });

  it("ignores a garbage Authorization header", () => {
    expect(extractToken(new Headers({ Authorization: "Basic dXNlcjpwYXNz" }))).toBeUndefined();
    expect(extractToken(new Headers({ Authorization: "Bearer" }))).toBeUndefined();
    expect(extractToken(new Headers({ Authorization: "Bearer two tokens" }))).toBeUndefined();
    expect(extractToken(new Headers({ Authorization: "tok" }))).toBeUndefined();
    // ...and falls back to X-Auth-Token.
    expect(extractToken(new Headers({ Authorization: "Basic abc", "X-Auth-Token": "xtok" }))).toBe("xtok");
  });

  it("uses the query token only when given and when no header carries one", () => {
    expect(extractToken(new Headers())).toBeUndefined();
    expect(extractToken(new Headers({ "X-Auth-Token": "" }))).toBeUndefined();
    expect(extractToken(new Headers(), "qtok")).toBe("qtok");
    expect(extractToken(new Headers({ "X-Auth-Token": "xtok" }), "qtok")).toBe("xtok");
  });
});

describe("Authorizer.roomFilter", () => {
  type Filter = Awaited<ReturnType<Authorizer["roomFilter"]>>;
  function visible(f: Filter, rooms: string[]): string[] {
    if (typeof f !== "function") throw new Error(`expected a filter, got ${JSON.stringify(f)}`);
    return rooms.filter(f);
  }
  const ROOMS = ["demo", "stage", "other"];
  const a = authorizer({
    ADMIN_TOKEN: "admin-secret",
    AUTH_TOKEN: "global-secret",
    ROOM_TOKENS: "demo:demo-secret,stage:stage-secret",
    JWT_SECRET: SECRET,
  });

  it("shows every room when auth is off", async () => {
    expect(visible(await authorizer({}).roomFilter(undefined), ROOMS)).toEqual(ROOMS);
  });

  it("shows every room to AUTH_TOKEN and ADMIN_TOKEN", async () => {
    expect(visible(await a.roomFilter("global-secret"), ROOMS)).toEqual(ROOMS);
    expect(visible(await a.roomFilter("admin-secret"), ROOMS)).toEqual(ROOMS);
  });

  it("shows a room token its room only", async () => {
    expect(visible(await a.roomFilter("demo-secret"), ROOMS)).toEqual(["demo"]);
    expect(visible(await a.roomFilter("stage-secret"), ROOMS)).toEqual(["stage"]);
  });

  it("shows a JWT its room claim", async () => {
    expect(visible(await a.roomFilter(await jwt({ room: "other" })), ROOMS)).toEqual(["other"]);
    expect(visible(await a.roomFilter(await jwt({ room: "*" })), ROOMS)).toEqual(ROOMS);
  });

  it("refuses missing, unknown and invalid tokens with 401", async () => {
    expect(await a.roomFilter(undefined)).toEqual({ ok: false, status: 401, reason: "missing token" });
    expect(await a.roomFilter("nope")).toEqual({ ok: false, status: 401, reason: "unknown token" });
    expect(await a.roomFilter(await jwt({ room: "demo" }, { exp: now() - 60 }))).toMatchObject({ ok: false, status: 401 });
    expect(await a.roomFilter(await jwt({ room: "demo" }, { secret: "wrong-secret-0123456789abcdef" }))).toMatchObject({
      ok: false,
      status: 401,
    });
  });
});
