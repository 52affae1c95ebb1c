import "../../src/polyfills.ts";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { Authorizer } from "../../src/auth/authorizer.ts";
import { loadConfig, type Env } from "../../src/config.ts";
import { createApp } from "../../src/http/app.ts";
import { Metrics } from "../../src/metrics/metrics.ts";
import { EventsHub } from "../../src/room/eventsHub.ts";
import { RoomRegistry } from "../../src/room/registry.ts";
import { loadSdp } from "../fixtures/fixtures.ts";

const registries: RoomRegistry[] = [];

afterEach(() => {
  for (const r of registries.splice(0)) r.close("test done");
});

/** The server as main.ts wires it, minus the listening socket. */
function server(env: Env = {}) {
  const config = loadConfig({ RATE_LIMIT_RPS: "0", ...env });
  const log = pino({ level: "silent" });
  const metrics = new Metrics();
  const authorizer = new Authorizer(config);
  const registry = new RoomRegistry({ config, metrics, log });
  registries.push(registry);
  const app = createApp({ config, registry, events: new EventsHub(registry), authorizer, metrics, log, version: "0.0.0-test" });
  return { app, config, metrics, registry };
}

const WHEP_OFFER = loadSdp("whep-recvonly");
const sdpPost = (body: BodyInit, headers: Record<string, string> = {}): RequestInit => ({
  method: "POST",
  headers: { "Content-Type": "application/sdp", ...headers },
  body,
});

async function timed<T>(fn: () => T | Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - start };
}

describe("public routes", () => {
  it("GET /healthz answers ok", async () => {
    const res = await server().app.request("/healthz");
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("ok");
  });

  it("GET /api/bootstrap has the reference's shape", async () => {
    const { app } = server({ ICE_SERVERS: "stun:stun.l.google.com:19302", RECORD_ENABLED: "true", AUTH_TOKEN: "t" });
    const res = await app.request("/api/bootstrap");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    const body = (await res.json()) as Record<string, unknown>;
    expect({
      authEnabled: body["authEnabled"],
      recordEnabled: body["recordEnabled"],
      iceServers: body["iceServers"],
      features: body["features"],
    }).toEqual({
      authEnabled: true,
      recordEnabled: true,
      iceServers: [{ urls: ["stun:stun.l.google.com:19302"] }],
      features: { rooms: true, records: true },
    });
    // The reference's keys, plus the server version (an addition the web app shows).
    expect(Object.keys(body).sort()).toEqual(["authEnabled", "features", "iceServers", "recordEnabled", "version"]);
    expect(body["version"]).toBe("0.0.0-test");
  });

  it("GET /api/bootstrap without auth, recording or ICE servers", async () => {
    const body = (await (await server().app.request("/api/bootstrap")).json()) as Record<string, unknown>;
    expect(body).toMatchObject({ authEnabled: false, recordEnabled: false, iceServers: [], features: { rooms: true, records: false } });
  });

  it("GET /api/rooms is an empty list with no rooms", async () => {
    const res = await server().app.request("/api/rooms");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([]);
  });

  it("GET /metrics names the reference's four metrics", async () => {
    const res = await server().app.request("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    const text = await res.text();
    for (const [name, type] of [
      ["live_rooms", "gauge"],
      ["live_subscribers", "gauge"],
      ["live_rtp_bytes_total", "counter"],
      ["live_rtp_packets_total", "counter"],
    ] as const) {
      expect(text).toMatch(new RegExp(`^# HELP ${name} \\S`, "m"));
      expect(text).toMatch(new RegExp(`^# TYPE ${name} ${type}$`, "m"));
    }
    expect(text).toMatch(/^live_rooms 0$/m);
  });

  it("unknown paths are 404 JSON", async () => {
    const res = await server().app.request("/api/nope");
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ error: "not found" });
  });
});

describe("WHIP/WHEP input checks", () => {
  it.each([
    ["65 characters", "a".repeat(65)],
    ["a space", "a%20b"],
    ["a path escape", "..%2Fx"],
    ["a dot", "a.b"],
    ["non-ASCII", "%C3%A9t%C3%A9"],
  ])("invalid room name with %s → 400", async (_label, room) => {
    const { app } = server();
    for (const path of [`/api/whip/publish/${room}`, `/api/whep/play/${room}`]) {
      const res = await app.request(path, sdpPost(WHEP_OFFER));
      expect(res.status, path).toBe(400);
      expect(await res.json()).toEqual({ error: "invalid room name" });
    }
  });

  it("accepts a 64-character room name (404: no publisher)", async () => {
    const res = await server().app.request(`/api/whep/play/${"a".repeat(64)}`, sdpPost(WHEP_OFFER));
    expect(res.status).toBe(404);
  });

  it("garbage SDP → 400 invalid SDP, with the reason in X-Error-Detail", async () => {
    const { app } = server();
    for (const path of ["/api/whip/publish/demo", "/api/whep/play/demo"]) {
      const res = await app.request(path, sdpPost("this is not an SDP offer"));
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ error: "invalid SDP" });
      expect(res.headers.get("X-Error-Detail")).toBe("does not start with v=0");
    }
  });

  it("an empty body → 400 invalid SDP", async () => {
    const res = await server().app.request("/api/whip/publish/demo", sdpPost(""));
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: "invalid SDP" });
  });

  it("a body that is not UTF-8 → 400 invalid SDP", async () => {
    const res = await server().app.request("/api/whip/publish/demo", sdpPost(new Uint8Array([0x76, 0x3d, 0x30, 0xff, 0xfe])));
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: "invalid SDP" });
  });

  it("a body over 1 MB → 413, with or without Content-Length", async () => {
    const { app } = server();
    const big = "v=0\r\n" + "a=x\r\n".repeat(210_000);
    expect(big.length).toBeGreaterThan(1024 * 1024);
    const declared = await app.request(
      "/api/whip/publish/demo",
      sdpPost(big, { "Content-Length": String(big.length) }),
    );
    expect(declared.status).toBe(413);
    expect(await declared.json()).toEqual({ error: "request body too large" });
    const streamed = await app.request("/api/whep/play/demo", sdpPost(big));
    expect(streamed.status).toBe(413);
  });

  it("a body of exactly 1 MB is read (and then judged as SDP)", async () => {
    const body = "v=0\r\n" + "x".repeat(1024 * 1024 - 5);
    const res = await server().app.request("/api/whip/publish/demo", sdpPost(body));
    expect(res.status).toBe(400);
  });

  it("Content-Type application/json → 415", async () => {
    const res = await server().app.request(
      "/api/whip/publish/demo",
      sdpPost(JSON.stringify({ sdp: WHEP_OFFER }), { "Content-Type": "application/json" }),
    );
    expect(res.status).toBe(415);
    expect(await res.json()).toEqual({ error: "content type must be application/sdp" });
  });

  it("accepts text/plain and a charset parameter", async () => {
    const { app } = server();
    const plain = await app.request("/api/whep/play/demo", sdpPost(WHEP_OFFER, { "Content-Type": "text/plain" }));
    expect(plain.status).toBe(404);
    const charset = await app.request("/api/whep/play/demo", sdpPost(WHEP_OFFER, { "Content-Type": "application/sdp; charset=utf-8" }));
    expect(charset.status).toBe(404);
  });

  it("play on an empty room with a valid offer → 404 no active publisher", async () => {
    const res = await server().app.request("/api/whep/play/demo", sdpPost(WHEP_OFFER));
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "no active publisher in room" });
    expect(res.headers.get("Location")).toBeNull();
  });

  it("DELETE of an unknown session → 404", async () => {
    const { app } = server();
    for (const path of ["/api/whip/publish/demo/nosuchsession", "/api/whep/play/demo/nosuchsession"]) {
      const res = await app.request(path, { method: "DELETE" });
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ error: "session not found" });
    }
  });

  it("GET /api/rooms/{room} of an unknown room → 404", async () => {
    const res = await server().app.request("/api/rooms/demo");
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "room not found" });
  });
});

describe("admin", () => {
  it("closing an unknown room with the admin token → 404", async () => {
    const res = await server({ ADMIN_TOKEN: "admin-secret" }).app.request("/api/admin/rooms/demo/close", {
      method: "POST",
      headers: { Authorization: "Bearer admin-secret" },
    });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "room not found" });
  });

  it("without the admin token → 401, and AUTH_TOKEN is not enough", async () => {
    const { app } = server({ ADMIN_TOKEN: "admin-secret", AUTH_TOKEN: "global-secret" });
    const [none, auth] = await Promise.all([
      app.request("/api/admin/rooms/demo/close", { method: "POST" }),
      app.request("/api/admin/rooms/demo/close", { method: "POST", headers: { "X-Auth-Token": "global-secret" } }),
    ]);
    for (const res of [none, auth]) {
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: "unauthorized" });
    }
  });
});

describe("auth failures", () => {
  const ENV = { AUTH_TOKEN: "global-secret", ROOM_TOKENS: "demo:demo-secret" };

  it("are 401 JSON after the fixed delay", async () => {
    const { app, config, metrics } = server(ENV);
    expect(config.authFailDelayMs).toBe(200);
    const requests: [string, RequestInit][] = [
      ["/api/whip/publish/demo", sdpPost(WHEP_OFFER)],
      ["/api/whep/play/demo", sdpPost(WHEP_OFFER, { Authorization: "Bearer wrong" })],
      ["/api/whep/play/other", sdpPost(WHEP_OFFER, { "X-Auth-Token": "demo-secret" })],
      ["/api/rooms", {}],
      ["/api/rooms/demo", { headers: { Authorization: "Bearer wrong" } }],
      ["/api/whip/publish/demo/whatever", { method: "DELETE" }],
    ];
    const results = await Promise.all(requests.map(([path, init]) => timed(() => app.request(path, init))));
    for (const [i, { value: res, ms }] of results.entries()) {
      const path = requests[i]?.[0];
      expect(res.status, path).toBe(401);
      expect(res.headers.get("content-type"), path).toMatch(/^application\/json/);
      expect(await res.json(), path).toEqual({ error: "unauthorized" });
      expect(ms, path).toBeGreaterThanOrEqual(150);
    }
    const failures = (await metrics.authFailures.get()).values.find((v) => v.labels["status"] === "401");
    expect(failures?.value).toBe(requests.length);
  });

  it("check the token before reading the body", async () => {
    const res = await server(ENV).app.request("/api/whip/publish/demo", sdpPost("not sdp"));
    expect(res.status).toBe(401);
  });

  it("a valid token gets past auth quickly", async () => {
    const { app } = server(ENV);
    const { value: res, ms } = await timed(() =>
      app.request("/api/whep/play/demo", sdpPost(WHEP_OFFER, { Authorization: "Bearer demo-secret" })),
    );
    expect(res.status).toBe(404);
    expect(ms).toBeLessThan(150);
    const rooms = await app.request("/api/rooms", { headers: { "X-Auth-Token": "global-secret" } });
    expect(rooms.status).toBe(200);
    expect(await rooms.json()).toEqual([]);
  });
});

describe("CORS", () => {
  const EXPOSED = ["Location", "ETag", "Link"];

  function exposed(res: Response): string[] {
    return (res.headers.get("Access-Control-Expose-Headers") ?? "").split(",").map((h) => h.trim());
  }

  it("adds the headers to normal responses", async () => {
    const res = await server().app.request("/api/rooms", { headers: { Origin: "https://app.example.com" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("Access-Control-Allow-Origin")).toBe("*");
    expect(exposed(res)).toEqual(expect.arrayContaining(EXPOSED));
  });

  it("adds the headers to error responses", async () => {
    const { app } = server();
    const bad = await app.request("/api/whip/publish/demo", { ...sdpPost("junk"), headers: { "Content-Type": "application/sdp", Origin: "https://x.example" } });
    expect(bad.status).toBe(400);
    expect(bad.headers.get("Access-Control-Allow-Origin")).toBe("*");
    expect(exposed(bad)).toEqual(expect.arrayContaining(EXPOSED));
    const missing = await app.request("/nowhere", { headers: { Origin: "https://x.example" } });
    expect(missing.status).toBe(404);
    expect(missing.headers.get("Access-Control-Allow-Origin")).toBe("*");
  });

  it("answers an OPTIONS preflight", async () => {
    const res = await server().app.request("/api/whip/publish/demo", {
      method: "OPTIONS",
      headers: {
        Origin: "https://app.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, authorization",
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("Access-Control-Allow-Origin")).toBe("*");
    const methods = (res.headers.get("Access-Control-Allow-Methods") ?? "").split(",");
    expect(methods).toEqual(expect.arrayContaining(["GET", "POST", "OPTIONS", "DELETE", "PATCH"]));
    const allowed = (res.headers.get("Access-Control-Allow-Headers") ?? "").split(",").map((h) => h.toLowerCase());
    expect(allowed).toEqual(expect.arrayContaining(["content-type", "authorization", "x-auth-token"]));
    expect(exposed(res)).toEqual(expect.arrayContaining(EXPOSED));
  });

  it("uses ALLOWED_ORIGIN when set", async () => {
    const { app } = server({ ALLOWED_ORIGIN: "https://app.example.com" });
    const ok = await app.request("/api/rooms", { headers: { Origin: "https://app.example.com" } });
    expect(ok.headers.get("Access-Control-Allow-Origin")).toBe("https://app.example.com");
    const other = await app.request("/api/rooms", { headers: { Origin: "https://evil.example" } });
    expect(other.headers.get("Access-Control-Allow-Origin")).toBeNull();
  });
});
