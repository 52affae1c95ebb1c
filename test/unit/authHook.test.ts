// AUTH_HOOK_URL through the real app (no listening socket) against a real HTTP auth service in the test, which
// allows room "open" and denies room "shut", and counts the calls it gets.
import "../../src/polyfills.ts";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { AuthHook, DENY_CACHE_MAX_MS, interpretAnswer } from "../../src/auth/authHook.ts";
import { Authorizer } from "../../src/auth/authorizer.ts";
import { loadConfig, type AuthHookConfig, type Env } from "../../src/config.ts";
import { createApp } from "../../src/http/app.ts";
import { Recordings } from "../../src/media/recorder/recordings.ts";
import { Metrics } from "../../src/metrics/metrics.ts";
import { EventsHub } from "../../src/room/eventsHub.ts";
import { RoomRegistry } from "../../src/room/registry.ts";
import { json, startHttpReceiver, type HttpReceiver, type Reply, type ReplyHandler } from "../e2e/helpers/httpReceiver.ts";
import { loadSdp } from "../fixtures/fixtures.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface HookCall {
  room: string;
  action: string;
  token: string | null;
  ip: string | null;
}

/** The auth service: "open" is allowed to the token "good", "shut" is forbidden; others per `extra`. */
function policy(extra?: (call: HookCall) => Reply | undefined): ReplyHandler {
  return (req) => {
    const call = JSON.parse(req.body) as HookCall;
    const special = extra?.(call);
    if (special) return special;
    if (call.token !== "good") return json(401, { error: "who are you?" });
    if (call.room === "open" || call.room === "*") return { status: 204 };
    return json(403, { error: "room shut to you" });
  };
}

async function hookServer(handler: ReplyHandler): Promise<HttpReceiver> {
  const r = await startHttpReceiver(handler);
  cleanups.push(() => r.close());
  return r;
}

const calls = (r: HttpReceiver) => r.requests.map((q) => JSON.parse(q.body) as HookCall);

async function server(hook: HttpReceiver, env: Env = {}) {
  const base = loadConfig({ RATE_LIMIT_RPS: "0", AUTH_HOOK_URL: `${hook.url}/auth`, ...env });
  const config = { ...base, authFailDelayMs: 0 };
  const log = pino({ level: "silent" });
  const metrics = new Metrics();
  const registry = new RoomRegistry({ config, metrics, log });
  cleanups.push(() => registry.close("test done"));
  const authHook = new AuthHook({ config: config.authHook as AuthHookConfig, metrics, log, version: "0.0.0-test" });
  let recordings: Recordings | undefined;
  if (config.recordEnabled) {
    recordings = new Recordings({ config, metrics, log }, { remux: false });
    await recordings.start();
  }
  const app = createApp({ config, registry, events: new EventsHub(registry), authorizer: new Authorizer(config), metrics, log, version: "0.0.0-test", authHook, recordings });
  // The platform passes the client's address as a binding, as Bun.serve does in production.
  const request = (path: string, init: RequestInit = {}, token?: string) => {
    const headers = new Headers(init.headers);
    if (token !== undefined) headers.set("Authorization", `Bearer ${token}`);
    return app.request(path, { ...init, headers }, { ip: "198.51.100.7" });
  };
  const publish = (room: string, token?: string) =>
    request(`/api/whip/publish/${room}`, { method: "POST", headers: { "Content-Type": "application/sdp" }, body: loadSdp("chromium-publish") }, token);
  return { app, request, publish, metrics, registry, authHook };
}

async function metric(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  return m?.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val) && !("le" in v.labels))?.value;
}

describe("the auth hook decides rooms", () => {
  it("allows one room and denies another, and is told room, action, token and client address", async () => {
    const hook = await hookServer(policy());
    const s = await server(hook);
    const open = await s.publish("open", "good");
    expect(open.status).toBe(201);
    const shut = await s.publish("shut", "good");
    expect(shut.status).toBe(403);
    expect(await shut.json()).toEqual({ error: "forbidden: room shut to you" });
    expect(calls(hook)).toEqual([
      { room: "open", action: "publish", token: "good", ip: "198.51.100.7" },
      { room: "shut", action: "publish", token: "good", ip: "198.51.100.7" },
    ]);
    expect(hook.requests[0]?.path).toBe("/auth");
    expect(hook.requests[0]?.headers["content-type"]).toBe("application/json");
    // The room's detail is a play question.
    expect((await s.request("/api/rooms/open", {}, "good")).status).toBe(200);
    expect((await s.request("/api/rooms/shut", {}, "good")).status).toBe(403);
    expect(calls(hook).slice(2).map((c) => c.action)).toEqual(["play", "play"]);
    expect(await metric(s.metrics, "roomcast_auth_hook_requests_total", { result: "allow" })).toBe(2);
    expect(await metric(s.metrics, "roomcast_auth_hook_requests_total", { result: "deny" })).toBe(2);
    expect(await metric(s.metrics, "roomcast_auth_failures_total", { status: "403" })).toBe(2);
  });

  it("asks about requests without a token too (token null), and follows a 401", async () => {
    const hook = await hookServer(policy());
    const s = await server(hook);
    const res = await s.publish("open");
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: "unauthorized" });
    expect(calls(hook)).toEqual([{ room: "open", action: "publish", token: null, ip: "198.51.100.7" }]);
  });

  it("a hook answering 500, a body it cannot mean, or nothing in AUTH_HOOK_TIMEOUT: 503, and the next request asks again", async () => {
    let reply: Reply = { status: 500 };
    const hook = await hookServer(() => reply);
    const s = await server(hook, { AUTH_HOOK_TIMEOUT: "200ms" });
    const res = await s.publish("open", "good");
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: "the auth service is unavailable, try again shortly" });
    reply = { status: 200, body: "{not json", headers: { "Content-Type": "application/json" } };
    expect((await s.publish("open", "good")).status).toBe(503);
    reply = json(200, { can: "everything" });
    expect((await s.publish("open", "good")).status).toBe(503);
    reply = { status: 302, headers: { Location: "http://elsewhere/" } };
    expect((await s.publish("open", "good")).status).toBe(503);
    reply = { status: 200, delayMs: 2000 };
    const started = Date.now();
    expect((await s.publish("open", "good")).status).toBe(503);
    expect(Date.now() - started).toBeLessThan(1500);
    // Failures are not cached: each of the five requests above reached the hook.
    expect(hook.requests).toHaveLength(5);
    expect(await metric(s.metrics, "roomcast_auth_hook_requests_total", { result: "error" })).toBe(4);
    expect(await metric(s.metrics, "roomcast_auth_hook_requests_total", { result: "timeout" })).toBe(1);
    expect(s.registry.get("open")).toBeUndefined();
  });

  it("AUTH_HOOK_FAIL_OPEN=true allows when the hook fails, but still follows its denials", async () => {
    let reply: Reply = { status: 502 };
    const hook = await hookServer(() => reply);
    const s = await server(hook, { AUTH_HOOK_FAIL_OPEN: "true" });
    expect((await s.publish("open", "good")).status).toBe(201);
    reply = { status: 403 };
    expect((await s.request("/api/rooms/open", {}, "good")).status).toBe(403);
  });

  it("caches answers per room, action, token and address: the service counts one call for repeated requests", async () => {
    const hook = await hookServer(policy());
    const s = await server(hook);
    for (let i = 0; i < 3; i++) expect((await s.request("/api/rooms/nothing-here", {}, "good")).status).toBe(403);
    expect(hook.requests).toHaveLength(1);
    await s.publish("open", "good");
    for (let i = 0; i < 3; i++) expect((await s.request("/api/rooms/open", {}, "good")).status).toBe(200);
    // publish and play are separate questions; the plays after the first come from the cache.
    expect(calls(hook).map((c) => `${c.room}/${c.action}`)).toEqual(["nothing-here/play", "open/publish", "open/play"]);
    // Another token is another question.
    expect((await s.request("/api/rooms/open", {}, "bad")).status).toBe(401);
    expect(hook.requests).toHaveLength(4);
    expect(await metric(s.metrics, "roomcast_auth_hook_cache_hits_total")).toBe(4);
  });

  it("AUTH_HOOK_CACHE=0 asks every time", async () => {
    const hook = await hookServer(policy());
    const s = await server(hook, { AUTH_HOOK_CACHE: "0" });
    for (let i = 0; i < 3; i++) await s.request("/api/rooms/open", {}, "good");
    expect(hook.requests).toHaveLength(3);
  });

  it("the static token kinds decide first: AUTH_TOKEN and ADMIN_TOKEN never reach the hook, nor a JWT for another room", async () => {
    const hook = await hookServer(policy());
    const s = await server(hook, { AUTH_TOKEN: "static", ADMIN_TOKEN: "admin", JWT_SECRET: "jwt-secret" });
    expect((await s.publish("shut", "static")).status).toBe(201);
    expect((await s.request("/api/rooms/shut", {}, "admin")).status).toBe(200);
    const jwt = await new SignJWT({ room: "elsewhere" }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h").sign(new TextEncoder().encode("jwt-secret"));
    expect((await s.request("/api/rooms/shut", {}, jwt)).status).toBe(403);
    expect(hook.requests).toHaveLength(0);
    // A token none of them knows is the hook's to decide.
    expect((await s.request("/api/rooms/shut", {}, "good")).status).toBe(403);
    expect((await s.request("/api/rooms/open", {}, "good")).status).toBe(404);
    expect(hook.requests).toHaveLength(2);
  });

  it("a JSON answer can narrow an allow: `can` limits the actions, `rooms` a listing, `ladder` a publish", async () => {
    const hook = await hookServer(
      policy((c) => {
        if (c.token === "viewer") return json(200, { can: ["play"] });
        if (c.token === "lister") return json(200, { rooms: ["open"] });
        if (c.token === "ladder") return json(200, { ladder: "bogus-ladder" });
        return undefined;
      }),
    );
    const s = await server(hook);
    const narrowed = await s.publish("open", "viewer");
    expect(narrowed.status).toBe(403);
    expect(await narrowed.json()).toEqual({ error: "forbidden: the auth hook does not allow publish" });
    // The hook's ladder is used as a JWT's ladder claim would be: this one is not a ladder, so the publish is a 400.
    const laddered = await s.publish("open", "ladder");
    expect(laddered.status).toBe(400);
    expect(((await laddered.json()) as { error: string }).error).toMatch(/invalid ladder/);
    expect((await s.publish("open", "good")).status).toBe(201);
    expect((await s.publish("other", "static-less")).status).toBe(401);
    const listed = await s.request("/api/rooms", {}, "lister");
    expect(listed.status).toBe(200);
    expect(((await listed.json()) as { name: string }[]).map((r) => r.name)).toEqual(["open"]);
    expect(calls(hook).find((c) => c.token === "lister")).toEqual({ room: "*", action: "play", token: "lister", ip: "198.51.100.7" });
  });

  it("records: a file, and a room's listing, are a `records` question about that room; the whole listing about *", async () => {
    const dir = mkdtempSync(join(tmpdir(), "roomcast-hook-rec-"));
    writeFileSync(join(dir, "open_video0_1710000000.ivf"), Buffer.alloc(64));
    writeFileSync(join(dir, "shut_video0_1710000000.ivf"), Buffer.alloc(64));
    const hook = await hookServer(
      policy((c) => (c.token === "good" && c.room === "*" ? json(200, { rooms: ["open"] }) : undefined)),
    );
    const s = await server(hook, { RECORD_ENABLED: "true", RECORD_DIR: dir });
    expect((await s.request("/records/open_video0_1710000000.ivf?token=good")).status).toBe(200);
    expect((await s.request("/records/shut_video0_1710000000.ivf?token=good")).status).toBe(403);
    const all = await s.request("/api/records", {}, "good");
    expect(((await all.json()) as { name: string }[]).map((r) => r.name)).toEqual(["open_video0_1710000000.ivf"]);
    expect((await s.request("/api/records?room=shut", {}, "good")).status).toBe(403);
    // The second question about shut's records is the first one's cached denial.
    expect(calls(hook).map((c) => `${c.room}/${c.action}`)).toEqual(["open/records", "shut/records", "*/records"]);
  });
});

describe("the auth hook's cache", () => {
  function hookWithClock(url: string, cacheMs: number, maxCacheEntries?: number) {
    let now = 1_000_000;
    const hook = new AuthHook({
      config: { url, timeoutMs: 2000, cacheMs, failOpen: false },
      metrics: new Metrics(),
      log: pino({ level: "silent" }),
      version: "0.0.0-test",
      now: () => now,
      maxCacheEntries,
    });
    return { hook, advance: (ms: number) => (now += ms) };
  }
  const q = (room: string, token = "good") => ({ room, action: "play" as const, token, ip: "192.0.2.1" });

  it("keeps an allow for AUTH_HOOK_CACHE and a denial for at most 2 s", async () => {
    const r = await hookServer(policy());
    const { hook, advance } = hookWithClock(r.url, 10_000);
    expect(await hook.decide(q("open"))).toMatchObject({ ok: true });
    expect(await hook.decide(q("shut"))).toMatchObject({ ok: false, status: 403 });
    advance(DENY_CACHE_MAX_MS - 1);
    await hook.decide(q("open"));
    await hook.decide(q("shut"));
    expect(r.requests).toHaveLength(2);
    advance(2);
    await hook.decide(q("open"));
    await hook.decide(q("shut"));
    expect(r.requests).toHaveLength(3);
    advance(10_000);
    await hook.decide(q("open"));
    expect(r.requests).toHaveLength(4);
  });

  it("is bounded: the oldest answers go first", async () => {
    const r = await hookServer(policy());
    const { hook } = hookWithClock(r.url, 60_000, 3);
    for (const room of ["a", "b", "c", "d"]) await hook.decide(q(room));
    expect(hook.cacheSize).toBe(3);
    await hook.decide(q("d"));
    expect(r.requests).toHaveLength(4);
    await hook.decide(q("a"));
    expect(r.requests).toHaveLength(5);
  });

  it("shares one call between identical questions asked at the same time", async () => {
    const r = await hookServer(() => ({ status: 204, delayMs: 100 }));
    const { hook } = hookWithClock(r.url, 0);
    const answers = await Promise.all(Array.from({ length: 5 }, () => hook.decide(q("open"))));
    expect(answers.every((a) => a.ok)).toBe(true);
    expect(r.requests).toHaveLength(1);
  });
});

describe("what an answer means", () => {
  it("2xx allows, with or without a body; 401/403 deny; anything else is an error", () => {
    expect(interpretAnswer(204, null, "")).toMatchObject({ kind: "allow" });
    expect(interpretAnswer(200, "text/plain", "OK")).toMatchObject({ kind: "allow" });
    expect(interpretAnswer(200, "application/json; charset=utf-8", '{"can":["play","records"]}')).toEqual({ kind: "allow", can: ["play", "records"], rooms: undefined, ladder: undefined });
    expect(interpretAnswer(401, null, "")).toEqual({ kind: "deny", status: 401, reason: "refused by the auth hook" });
    expect(interpretAnswer(403, "application/json", '{"error":"banned"}')).toEqual({ kind: "deny", status: 403, reason: "banned" });
    expect(interpretAnswer(403, "application/json", "{oops")).toMatchObject({ kind: "deny", status: 403 });
    for (const status of [404, 429, 500, 301, 100]) expect(interpretAnswer(status, null, "")).toMatchObject({ kind: "error" });
    for (const body of ["[]", '"yes"', '{"can":["fly"]}', '{"rooms":[1]}', '{"ladder":5}', "{"]) {
      expect(interpretAnswer(200, "application/json", body), body).toMatchObject({ kind: "error" });
    }
  });
});
