// The admin webhook API through the real app (no listening socket), with a real HTTP receiver for the test sends.
import "../../../src/polyfills.ts";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { Authorizer } from "../../../src/auth/authorizer.ts";
import { loadConfig, type Env } from "../../../src/config.ts";
import { createApp } from "../../../src/http/app.ts";
import { Metrics } from "../../../src/metrics/metrics.ts";
import { EventsHub } from "../../../src/room/eventsHub.ts";
import { RoomRegistry } from "../../../src/room/registry.ts";
import { Webhooks } from "../../../src/webhooks/webhooks.ts";
import { startHttpReceiver } from "../../e2e/helpers/httpReceiver.ts";

const ADMIN = "admin-secret";
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function server(env: Env = {}) {
  const config = loadConfig({ RATE_LIMIT_RPS: "0", ADMIN_TOKEN: ADMIN, ...env });
  const log = pino({ level: "silent" });
  const metrics = new Metrics();
  const registry = new RoomRegistry({ config, metrics, log });
  const webhooks = new Webhooks({ config: config.webhooks, metrics, log, version: "0.0.0-test" });
  cleanups.push(() => registry.close("test done"), () => webhooks.close(0));
  const app = createApp({ config, registry, events: new EventsHub(registry), authorizer: new Authorizer({ ...config, authFailDelayMs: 0 }), metrics, log, version: "0.0.0-test", webhooks });
  const call = async (method: string, path: string, body?: unknown, token: string | null = ADMIN) => {
    const headers: Record<string, string> = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await app.request(path, { method, headers, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });
    return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, unknown> & Record<string, unknown>[] };
  };
  return { app, call, webhooks };
}

describe("the webhook admin API", () => {
  it("lists WEBHOOK_URLS receivers with their source and counters", async () => {
    const { call } = server({ WEBHOOK_URLS: "https://cms.example.com/a,http://127.0.0.1:9/b" });
    const res = await call("GET", "/api/admin/webhooks");
    expect(res.status).toBe(200);
    expect(res.json).toEqual([
      expect.objectContaining({ id: "env1", url: "https://cms.example.com/a", source: "env", events: null, sent: 0, failed: 0, dropped: 0, queued: 0, lastError: null }),
      expect.objectContaining({ id: "env2", url: "http://127.0.0.1:9/b", source: "env" }),
    ]);
  });

  it("adds a receiver: 201 with the entry and its Location; it then gets only its events", async () => {
    const { call, webhooks } = server();
    const r = await startHttpReceiver();
    cleanups.push(() => r.close());
    const res = await call("POST", "/api/admin/webhooks", { url: `${r.url}/in`, events: ["room.opened", "room.opened", "room.closed"] });
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ id: expect.stringMatching(/^wh_[0-9a-f]{8}$/), url: `${r.url}/in`, source: "api", events: ["room.opened", "room.closed"] });
    expect(res.headers.get("location")).toBe(`/api/admin/webhooks/${res.json.id as string}`);
    webhooks.emit("viewer.joined", { room: "a", session: "s", viewers: 1 });
    webhooks.emit("room.opened", { room: "a" });
    const [req] = await r.waitForRequests(1);
    expect(req?.headers["x-roomcast-event"]).toBe("room.opened");
    expect((await call("GET", "/api/admin/webhooks")).json).toHaveLength(1);
  });

  it("refuses bad registrations with 400 and a message saying what is wrong", async () => {
    const { call } = server();
    const cases: [unknown, RegExp][] = [
      ["not json", /body must be JSON/],
      [[], /JSON object/],
      [{}, /"url" must be a string/],
      [{ url: 42 }, /"url" must be a string/],
      [{ url: "not a url" }, /is not a URL/],
      [{ url: "ftp://files.example.com/x" }, /http:\/\/ or https:\/\//],
      [{ url: "javascript:alert(1)" }, /http:\/\/ or https:\/\//],
      [{ url: `https://a.example/${"x".repeat(3000)}` }, /longer than 2048/],
      [{ url: "https://a.example/", events: "room.opened" }, /non-empty list/],
      [{ url: "https://a.example/", events: [] }, /non-empty list/],
      [{ url: "https://a.example/", events: ["room.opened", "room.exploded"] }, /unknown event "room.exploded"/],
      [{ url: "https://a.example/", events: ["test"] }, /unknown event "test"/],
    ];
    for (const [body, message] of cases) {
      const res = await call("POST", "/api/admin/webhooks", body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error).toMatch(message);
    }
    expect((await call("GET", "/api/admin/webhooks")).json).toEqual([]);
  });

  it("413 for a body over 16 KB", async () => {
    const { call } = server();
    const res = await call("POST", "/api/admin/webhooks", { url: "https://a.example/", pad: "x".repeat(20_000) });
    expect(res.status).toBe(413);
  });

  it("409 for a URL already registered, and past 16 receivers", async () => {
    const { call } = server({ WEBHOOK_URLS: "https://a.example/0" });
    expect((await call("POST", "/api/admin/webhooks", { url: "https://a.example/0" })).status).toBe(409);
    for (let i = 1; i < 16; i++) expect((await call("POST", "/api/admin/webhooks", { url: `https://a.example/${i}` })).status).toBe(201);
    const res = await call("POST", "/api/admin/webhooks", { url: "https://a.example/16" });
    expect(res.status).toBe(409);
    expect(res.json.error).toMatch(/too many webhook receivers: at most 16/);
  });

  it("deletes api and env receivers (env ones until the next start); 404 for unknown or already deleted", async () => {
    const { call } = server({ WEBHOOK_URLS: "https://a.example/env" });
    const added = await call("POST", "/api/admin/webhooks", { url: "https://a.example/api" });
    const id = added.json.id as string;
    expect(await call("DELETE", `/api/admin/webhooks/${id}`)).toMatchObject({ status: 200, json: { deleted: id, source: "api" } });
    expect((await call("DELETE", `/api/admin/webhooks/${id}`)).status).toBe(404);
    expect(await call("DELETE", "/api/admin/webhooks/env1")).toMatchObject({ status: 200, json: { deleted: "env1", source: "env", untilRestart: true } });
    expect((await call("GET", "/api/admin/webhooks")).json).toEqual([]);
    expect(await call("DELETE", "/api/admin/webhooks/..%2F..")).toMatchObject({ status: 404, json: { error: "webhook receiver not found" } });
  });

  it("test sends a test event now and answers with the receiver's status, or why it could not reach it", async () => {
    const r = await startHttpReceiver(() => ({ status: 418 }));
    cleanups.push(() => r.close());
    const { call } = server({ WEBHOOK_URLS: r.url });
    const res = await call("POST", "/api/admin/webhooks/env1/test");
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ ok: false, status: 418, error: "HTTP 418", event: expect.stringMatching(/^evt_/) });
    expect(r.requests).toHaveLength(1);
    r.handler = () => ({ status: 200 });
    expect((await call("POST", "/api/admin/webhooks/env1/test")).json).toMatchObject({ ok: true, status: 200, error: null });
    await r.close();
    const down = await call("POST", "/api/admin/webhooks/env1/test");
    expect(down.json).toMatchObject({ ok: false, status: null, error: expect.any(String) });
    expect((await call("POST", "/api/admin/webhooks/nope/test")).status).toBe(404);
    expect((await call("GET", "/api/admin/webhooks")).json[0]).toMatchObject({ sent: 1, failed: 2 });
  });

  it("is for ADMIN_TOKEN only: 401 without it or with another token, on every route", async () => {
    const { call } = server({ AUTH_TOKEN: "room-token", WEBHOOK_URLS: "https://a.example/" });
    for (const token of [null, "room-token", "wrong"]) {
      expect((await call("GET", "/api/admin/webhooks", undefined, token)).status).toBe(401);
      expect((await call("POST", "/api/admin/webhooks", { url: "https://b.example/" }, token)).status).toBe(401);
      expect((await call("DELETE", "/api/admin/webhooks/env1", undefined, token)).status).toBe(401);
      expect((await call("POST", "/api/admin/webhooks/env1/test", undefined, token)).status).toBe(401);
    }
    expect((await call("GET", "/api/admin/webhooks")).json).toHaveLength(1);
  });

  it("405 for other methods", async () => {
    const { call } = server();
    expect((await call("PUT", "/api/admin/webhooks", { url: "https://a.example/" })).status).toBe(405);
    expect((await call("GET", "/api/admin/webhooks/env1/test")).status).toBe(405);
  });
});
