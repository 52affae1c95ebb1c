// GET /api/events through the app as main.ts wires it, without a listening socket: the events a page gets, auth
// with headers or ?token=, per-room visibility, and the stream's clean-up when the client goes away.
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

function server(env: Env = {}) {
  const config = loadConfig({ RATE_LIMIT_RPS: "0", ...env });
  const log = pino({ level: "silent" });
  const metrics = new Metrics();
  const registry = new RoomRegistry({ config, metrics, log });
  registries.push(registry);
  const app = createApp({ config, registry, events: new EventsHub(registry, { onClients: (n) => metrics.eventClients.set(n) }), authorizer: new Authorizer(config), metrics, log, version: "0.0.0-test" });
  return { app, registry, metrics };
}

interface Parsed {
  event: string;
  data: Record<string, unknown> & { room?: string };
}

/** Reads an event stream response; `next` waits for the first event matching a predicate. */
function reader(res: Response) {
  const body = res.body;
  if (!body) throw new Error("no body");
  const r = body.getReader();
  const decoder = new TextDecoder();
  const events: Parsed[] = [];
  let buf = "";
  let raw = "";
  const pump = async () => {
    for (;;) {
      const { value, done } = await r.read();
      if (done) return;
      const text = decoder.decode(value, { stream: true });
      raw += text;
      buf += text;
      let end: number;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data) as Parsed["data"] });
      }
    }
  };
  const pumping = pump().catch(() => undefined);
  return {
    events,
    raw: () => raw,
    async next(pred: (e: Parsed) => boolean, timeoutMs = 3000): Promise<Parsed> {
      const end = Date.now() + timeoutMs;
      while (Date.now() < end) {
        const found = events.find(pred);
        if (found) return found;
        await new Promise((res) => setTimeout(res, 20));
      }
      throw new Error(`no matching event in ${timeoutMs} ms; got ${events.map((e) => e.event).join(", ")}`);
    },
    async cancel() {
      await r.cancel();
      await pumping;
    },
  };
}

const publishOffer = loadSdp("chromium-publish");
const whip = (room: string, token?: string): RequestInit => ({
  method: "POST",
  headers: { "Content-Type": "application/sdp", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
  body: publishOffer,
});

async function clientsGauge(metrics: Metrics): Promise<number> {
  const m = /^roomcast_event_clients (\d+)/m.exec((await metrics.render()).body);
  return Number(m?.[1]);
}

describe("GET /api/events", () => {
  it("streams the rooms at connect, room-opened, stats each second, room-closed", async () => {
    const { app, registry, metrics } = server();
    const res = await app.request("/api/events");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    expect(res.headers.get("cache-control")).toMatch(/no-cache/);
    const sse = reader(res);
    expect((await sse.next((e) => e.event === "rooms")).data).toEqual([]);
    expect(sse.raw()).toMatch(/^retry: \d+\n\n/);
    expect(await clientsGauge(metrics)).toBe(1);

    const pub = await app.request("/api/whip/publish/demo", whip("demo"));
    expect(pub.status).toBe(201);
    const opened = await sse.next((e) => e.event === "room-opened");
    // Announced with its publisher, not as an empty room.
    expect(opened.data).toMatchObject({ room: "demo", hasPublisher: true, publisherState: "connecting", viewers: 0 });
    const stats = await sse.next((e) => e.event === "stats", 2500);
    expect(Object.keys(stats.data).sort()).toEqual(
      ["bitrate", "bytes", "hasPublisher", "liveSince", "loss", "packetRate", "packets", "packetsLost", "publisherState", "room", "tracks", "viewers"].sort(),
    );
    expect(stats.data.tracks).toEqual(
      expect.arrayContaining([expect.objectContaining({ kind: "video", codec: "video/VP8", layers: expect.any(Array) })]),
    );

    registry.closeRoom("demo", "test");
    expect((await sse.next((e) => e.event === "room-closed")).data).toEqual({ room: "demo" });
    await sse.cancel();
    expect(await clientsGauge(metrics)).toBe(0);
  });

  it("a new client gets the rooms that are already open; ?room= narrows the stream to one room", async () => {
    const { app } = server();
    expect((await app.request("/api/whip/publish/one", whip("one"))).status).toBe(201);
    expect((await app.request("/api/whip/publish/two", whip("two"))).status).toBe(201);
    const all = reader(await app.request("/api/events"));
    const rooms = (await all.next((e) => e.event === "rooms")).data as unknown as { room: string }[];
    expect(rooms.map((r) => r.room)).toEqual(["one", "two"]);
    const only = reader(await app.request("/api/events?room=two"));
    expect(((await only.next((e) => e.event === "rooms")).data as unknown as { room: string }[]).map((r) => r.room)).toEqual(["two"]);
    await only.next((e) => e.event === "stats", 2500);
    expect(only.events.filter((e) => e.event === "stats").every((e) => e.data.room === "two")).toBe(true);
    expect((await app.request("/api/events?room=bad%20name")).status).toBe(400);
    await Promise.all([all.cancel(), only.cancel()]);
  });

  it("auth: 401 without or with a wrong token; header or ?token= works; a room token sees only its room", async () => {
    const { app, metrics } = server({ AUTH_TOKEN: "all", ROOM_TOKENS: "alpha:alpha-t" });
    expect((await app.request("/api/events")).status).toBe(401);
    expect((await app.request("/api/events?token=wrong")).status).toBe(401);
    expect(((await (await app.request("/api/events")).json()) as { error: string }).error).toBe("unauthorized");

    expect((await app.request("/api/whip/publish/alpha", whip("alpha", "all"))).status).toBe(201);
    expect((await app.request("/api/whip/publish/bravo", whip("bravo", "all"))).status).toBe(201);
    const roomScoped = reader(await app.request("/api/events?token=alpha-t"));
    const full = reader(await app.request("/api/events", { headers: { Authorization: "Bearer all" } }));
    const seen = (e: Parsed) => (e.data as unknown as { room: string }[]).map((r) => r.room);
    expect(seen(await roomScoped.next((e) => e.event === "rooms"))).toEqual(["alpha"]);
    expect(seen(await full.next((e) => e.event === "rooms"))).toEqual(["alpha", "bravo"]);
    await roomScoped.next((e) => e.event === "stats", 2500);
    await full.next((e) => e.event === "stats" && e.data.room === "bravo", 2500);
    expect(roomScoped.events.filter((e) => e.event === "stats").map((e) => e.data.room)).not.toContain("bravo");
    await Promise.all([roomScoped.cancel(), full.cancel()]);
    expect(await clientsGauge(metrics)).toBe(0);
  });

  it("an aborted request frees its stream", async () => {
    const { app, metrics } = server();
    const ctrl = new AbortController();
    const res = await app.request("/api/events", { signal: ctrl.signal });
    expect(res.status).toBe(200);
    expect(await clientsGauge(metrics)).toBe(1);
    ctrl.abort();
    await new Promise((r) => setTimeout(r, 20));
    expect(await clientsGauge(metrics)).toBe(0);
  });
});
