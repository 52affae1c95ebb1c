// Webhooks from the real binary to real HTTP receivers in the test, while a werift publisher sends real VP8 and Opus,
// a werift viewer plays, and both leave: every event signed, in order, and a receiver that hangs slows nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WebhookEvent } from "../../src/webhooks/events.ts";
import { verifyWebhookSignature } from "../../src/webhooks/signature.ts";
import { startHttpReceiver, type HttpReceiver, type ReceivedRequest } from "./helpers/httpReceiver.ts";
import { sendRealMedia } from "./helpers/realMedia.ts";
import { startServer, waitFor, type ServerHandle } from "./helpers/server.ts";
import { play, publish } from "./helpers/weriftPeers.ts";

const SECRET = "e2e-webhook-secret";
const ADMIN = "e2e-admin";
const ROOM = "hooked";

const event = (r: ReceivedRequest) => JSON.parse(r.body) as WebhookEvent;
const admin = { Authorization: `Bearer ${ADMIN}` };

describe("webhooks from the binary", () => {
  let server: ServerHandle;
  let good: HttpReceiver;
  let hanging: HttpReceiver;
  let closedOnly: HttpReceiver;

  beforeAll(async () => {
    good = await startHttpReceiver(() => ({ status: 204 }));
    // Never answers within the server's timeout: its queue fills and drops, nothing else notices.
    hanging = await startHttpReceiver(() => ({ status: 200, delayMs: 60_000 }));
    closedOnly = await startHttpReceiver(() => ({ status: 200 }));
    server = await startServer({
      WEBHOOK_URLS: `${good.url}/roomcast,${hanging.url}/slow`,
      WEBHOOK_SECRET: SECRET,
      ADMIN_TOKEN: ADMIN,
      RECORD_ENABLED: "true",
      RECORD_DIR: "rec",
    });
  });

  afterAll(async () => {
    await server?.stop();
    await Promise.all([good?.close(), hanging?.close(), closedOnly?.close()]);
  });

  it("a receiver gets signed events for the room, its publisher and viewer, in order, then the recordings", async () => {
    const added = await fetch(`${server.url}/api/admin/webhooks`, {
      method: "POST",
      headers: { ...admin, "Content-Type": "application/json" },
      body: JSON.stringify({ url: `${closedOnly.url}/closed`, events: ["room.closed"] }),
    });
    expect(added.status).toBe(201);
    const addedId = ((await added.json()) as { id: string }).id;

    const pub = await publish(server.url, ROOM, { token: ADMIN });
    const sending = sendRealMedia(pub, { video: "vp8", seconds: 1.5 });
    const viewer = await play(server.url, ROOM, { token: ADMIN });
    type Detail = { publisher: { id: string; state: string }; viewers: { id: string; state: string }[] };
    const detail = await waitFor(
      async () => {
        const d = (await (await fetch(`${server.url}/api/rooms/${ROOM}`, { headers: admin })).json()) as Detail;
        return d.publisher.state === "connected" && d.viewers[0]?.state === "connected" ? d : undefined;
      },
      10_000,
      "publisher and viewer connected",
    );

    // The hanging receiver holds connections open; the API answers as usual meanwhile.
    const started = Date.now();
    expect((await fetch(`${server.url}/api/rooms`, { headers: admin })).status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1000);

    await sending;
    await viewer.close();
    await waitFor(async () => good.requests.some((r) => event(r).type === "viewer.left"), 10_000, "viewer.left");
    await pub.close();

    // Two track files and the mkv remux.
    await waitFor(() => good.requests.filter((r) => event(r).type === "recording.finished").length >= 3, 20_000, "three recording.finished events");
    const events = good.requests.map(event);
    expect(events.map((e) => e.type)).toEqual([
      "room.opened",
      "publisher.joined",
      "viewer.joined",
      "viewer.left",
      "publisher.left",
      "room.closed",
      "recording.finished",
      "recording.finished",
      "recording.finished",
    ]);
    expect(events.slice(0, 6).map((e) => e.data)).toEqual([
      { room: ROOM },
      { room: ROOM, session: detail.publisher.id },
      { room: ROOM, session: detail.viewers[0]?.id, viewers: 1 },
      { room: ROOM, session: detail.viewers[0]?.id, viewers: 0 },
      { room: ROOM, session: detail.publisher.id },
      { room: ROOM },
    ]);
    // Event times follow the order they happened in.
    const times = events.map((e) => Date.parse(e.time));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);

    for (const r of good.requests) {
      expect(r.path).toBe("/roomcast");
      expect(r.headers["content-type"]).toBe("application/json");
      expect(r.headers["x-roomcast-event"]).toBe(event(r).type);
      const signature = r.headers["x-roomcast-signature"] as string;
      const timestamp = r.headers["x-roomcast-timestamp"] as string;
      expect(verifyWebhookSignature({ secret: SECRET, body: r.body, signature, timestamp })).toBe(true);
      // A body changed on the way would not verify.
      expect(verifyWebhookSignature({ secret: SECRET, body: r.body.replace(ROOM, "other"), signature, timestamp })).toBe(false);
    }

    // recording.finished names files the records API serves, with their final sizes.
    const records = (await (await fetch(`${server.url}/api/records`, { headers: admin })).json()) as { name: string; size: number; kind: string }[];
    const finished = events.filter((e) => e.type === "recording.finished").map((e) => e.data as { room: string; file: string; size: number; kind: string; durationSec?: number });
    expect(finished.map((f) => f.kind).sort()).toEqual(["audio", "session", "video"]);
    for (const f of finished) {
      expect(f.room).toBe(ROOM);
      expect(records.find((r) => r.name === f.file)).toMatchObject({ size: f.size, kind: f.kind });
      expect(f.durationSec).toBeGreaterThan(1);
      expect(f.durationSec).toBeLessThan(2);
    }

    // The filtered receiver got room.closed only.
    await closedOnly.waitForRequests(1);
    expect(closedOnly.requests.map((r) => event(r).type)).toEqual(["room.closed"]);

    // The API's view of the receivers and the metrics agree with what arrived.
    const list = (await (await fetch(`${server.url}/api/admin/webhooks`, { headers: admin })).json()) as { id: string; source: string; sent: number; failed: number; inFlight: number; queued: number }[];
    expect(list.map((r) => [r.id, r.source])).toEqual([
      ["env1", "env"],
      ["env2", "env"],
      [addedId, "api"],
    ]);
    expect(list[0]).toMatchObject({ sent: 9, failed: 0 });
    expect((list[1]?.inFlight ?? 0) + (list[1]?.queued ?? 0)).toBeGreaterThan(0);
    expect(hanging.requests.length).toBeGreaterThan(0);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/roomcast_webhook_events_total\{receiver="env1",result="sent"\} 9/);
  });

  it("a test send reaches the receiver, signed, and the API answers with its status", async () => {
    const before = good.requests.length;
    const res = await fetch(`${server.url}/api/admin/webhooks/env1/test`, { method: "POST", headers: admin });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true, status: 204, error: null });
    const r = good.requests[before] as ReceivedRequest;
    expect(event(r)).toMatchObject({ type: "test" });
    expect(verifyWebhookSignature({ secret: SECRET, body: r.body, signature: r.headers["x-roomcast-signature"] as string, timestamp: r.headers["x-roomcast-timestamp"] as string })).toBe(true);
  });

  it("SIGTERM is not held up by a receiver that hangs", async () => {
    const started = Date.now();
    expect(await server.stop()).toBe(0);
    // The shutdown deadline is 4.5 s; the helper would SIGKILL only after 8 s.
    expect(Date.now() - started).toBeLessThan(6000);
  });
});
