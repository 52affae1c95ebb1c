// The admin APIs this server adds (captures, sessions) and the WHEP events URLs through app.request(): who may
// call them, what each bad input gets (always JSON with a fitting status), and ids that try to leave the captures
// folder. Real sessions are driven end to end in test/e2e/operations.test.ts and test/e2e/captures.test.ts.
import "../../src/polyfills.ts";
import { mkdtempSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { Authorizer } from "../../src/auth/authorizer.ts";
import { Captures } from "../../src/captures/captures.ts";
import { registryCaptureRooms } from "../../src/captures/roomSnapshot.ts";
import { loadConfig } from "../../src/config.ts";
import { createApp } from "../../src/http/app.ts";
import { Metrics } from "../../src/metrics/metrics.ts";
import { EventsHub } from "../../src/room/eventsHub.ts";
import { RoomRegistry } from "../../src/room/registry.ts";
import { WhepEventsHub } from "../../src/room/whepEvents.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const ADMIN = "admin-token";
const admin = (init: RequestInit = {}): RequestInit => ({ ...init, headers: { Authorization: `Bearer ${ADMIN}`, ...(init.headers as Record<string, string>) } });
const json = (body: unknown, init: RequestInit = {}): RequestInit => admin({ method: "POST", headers: { "Content-Type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body), ...init });

async function server() {
  const dataDir = mkdtempSync(join(tmpdir(), "roomcast-admin-"));
  // Refusals are delayed 200 ms in production; these tests make dozens.
  const config = { ...loadConfig({ RATE_LIMIT_RPS: "0", ADMIN_TOKEN: ADMIN, AUTH_TOKEN: "room-token", DATA_DIR: dataDir }), authFailDelayMs: 0 };
  const log = pino({ level: "silent" });
  const metrics = new Metrics();
  const registry = new RoomRegistry({ config, metrics, log });
  const captures = new Captures({ dir: join(dataDir, "captures"), rooms: registryCaptureRooms(registry), log, version: "test" });
  await captures.init();
  const whepEvents = new WhepEventsHub(registry);
  cleanups.push(() => registry.close("test done"), () => captures.close(), () => whepEvents.close());
  const app = createApp({ config, registry, events: new EventsHub(registry), authorizer: new Authorizer(config), metrics, log, version: "test", captures, whepEvents });
  return { app, dataDir, captures };
}

async function expectError(res: Response | Promise<Response>, status: number, message?: string | RegExp) {
  const r = await res;
  expect(r.status).toBe(status);
  expect(r.headers.get("content-type")).toMatch(/^application\/json/);
  const body = (await r.json()) as { error: string };
  expect(typeof body.error).toBe("string");
  if (message !== undefined) expect(body.error).toMatch(message);
}

describe("admin captures API", () => {
  it("needs the admin token: none, a room token or a wrong one get 401", async () => {
    const { app } = await server();
    for (const headers of [{}, { Authorization: "Bearer room-token" }, { Authorization: "Bearer nope" }] as Record<string, string>[]) {
      await expectError(app.request("/api/admin/captures", { headers }), 401, "unauthorized");
      await expectError(app.request("/api/admin/captures", { method: "POST", headers, body: "{}" }), 401);
      await expectError(app.request("/api/admin/captures/20261208T024215Z-1a2b3c4d", { method: "DELETE", headers }), 401);
    }
  });

  it("lists nothing at first, and refuses each bad start with a JSON 4xx", async () => {
    const { app } = await server();
    const list = await app.request("/api/admin/captures", admin());
    expect(list.status).toBe(200);
    expect(await list.json()).toEqual([]);
    await expectError(app.request("/api/admin/captures", json("not json")), 400, /JSON/);
    await expectError(app.request("/api/admin/captures", json([])), 400, /JSON object/);
    await expectError(app.request("/api/admin/captures", json({})), 400, "invalid room name");
    await expectError(app.request("/api/admin/captures", json({ room: "../etc" })), 400, "invalid room name");
    await expectError(app.request("/api/admin/captures", json({ room: "demo", maxSeconds: "60" })), 400, /maxSeconds/);
    await expectError(app.request("/api/admin/captures", json({ room: "demo", maxSeconds: 1.5 })), 400, /maxSeconds/);
    await expectError(app.request("/api/admin/captures", json({ room: "demo", maxSeconds: 0 })), 400, /maxSeconds/);
    await expectError(app.request("/api/admin/captures", json({ room: "demo", maxSeconds: 100_000 })), 400, /maxSeconds/);
    // A room that is not open cannot be captured.
    await expectError(app.request("/api/admin/captures", json({ room: "demo" })), 404, "room not found");
    await expectError(app.request("/api/admin/captures", json({ room: "demo", pad: "x".repeat(5000) })), 413);
  });

  it("answers 404 for ids that are not its captures: traversal, encodings, absolute paths, strays in the folder", async () => {
    const { app, dataDir } = await server();
    mkdirSync(join(dataDir, "captures"));
    writeFileSync(join(dataDir, "secret.json"), '{"secret":true}');
    writeFileSync(join(dataDir, "captures", "notes.json"), "{}");
    for (const id of ["..", "..%2Fsecret", "%2E%2E%2Fsecret", "..%5Csecret", "%2Fetc%2Fpasswd", "notes", "notes.json", "20261208T024215Z-1a2b3c4d", "20261208T024215Z-1a2b3c4d.json"]) {
      for (const [method, path] of [
        ["GET", `/api/admin/captures/${id}`],
        ["DELETE", `/api/admin/captures/${id}`],
        ["POST", `/api/admin/captures/${id}/stop`],
      ] as const) {
        const res = await app.request(path, admin({ method }));
        expect(res.status, `${method} ${path}`).toBe(404);
        const body = (await res.json()) as { error: string };
        expect(body.error).not.toContain("secret");
      }
    }
    // A path that leaves the API altogether is not an API path.
    expect((await app.request("/api/admin/captures/../../secret.json", admin())).status).toBe(404);
  });

  it("answers 405 with Allow for methods a captures URL does not take", async () => {
    const { app } = await server();
    const r1 = await app.request("/api/admin/captures", admin({ method: "PUT" }));
    expect(r1.status).toBe(405);
    expect(r1.headers.get("allow")).toBe("GET, POST");
    const r2 = await app.request("/api/admin/captures/20261208T024215Z-1a2b3c4d/stop", admin({ method: "GET" }));
    expect(r2.status).toBe(405);
    expect(r2.headers.get("allow")).toBe("POST");
  });
});

describe("admin sessions API", () => {
  it("needs the admin token, lists no session on an idle server, and 404s an unknown one", async () => {
    const { app } = await server();
    await expectError(app.request("/api/admin/sessions"), 401);
    await expectError(app.request("/api/admin/sessions", { headers: { Authorization: "Bearer room-token" } }), 401);
    const res = await app.request("/api/admin/sessions", admin());
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([]);
    await expectError(app.request("/api/admin/sessions/0123456789ab", admin({ method: "DELETE" })), 404, "session not found");
    await expectError(app.request("/api/admin/sessions/..%2F..", admin({ method: "DELETE" })), 404);
    const r = await app.request("/api/admin/sessions/0123456789ab", admin({ method: "GET" }));
    expect(r.status).toBe(405);
    expect(r.headers.get("allow")).toBe("DELETE");
  });
});

describe("WHEP events URLs", () => {
  it("are 404 JSON for sessions and streams that do not exist, and need the play token to create", async () => {
    const { app } = await server();
    const base = "/api/whep/play/demo/nosuchsession/events";
    await expectError(app.request(base, { method: "POST", body: "[]" }), 401);
    await expectError(app.request(base, { method: "POST", headers: { Authorization: "Bearer room-token" }, body: "[]" }), 404, "session not found");
    await expectError(app.request(`${base}/${"0".repeat(32)}`), 404, "session not found");
    await expectError(app.request(`${base}/${"0".repeat(32)}`, { method: "DELETE" }), 404);
    await expectError(app.request("/api/whep/play/bad%20room/x/events", { method: "POST", headers: { Authorization: "Bearer room-token" } }), 400, "invalid room name");
    const r = await app.request(base, { method: "GET" });
    expect(r.status).toBe(405);
    expect(r.headers.get("allow")).toBe("POST, OPTIONS");
  });
});
