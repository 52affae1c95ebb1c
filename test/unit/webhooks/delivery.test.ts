// Webhook delivery against a real HTTP receiver in the test: signing, retries, the bounded queue, ordering per
// room, the in-flight limit, closing. Backoff is shortened to milliseconds; everything else is as in production.
import pino from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { WebhookConfig } from "../../../src/config.ts";
import { Metrics } from "../../../src/metrics/metrics.ts";
import type { WebhookEvent } from "../../../src/webhooks/events.ts";
import { backoffDelay, isRetriableStatus, retryAfterMs } from "../../../src/webhooks/receiver.ts";
import { verifyWebhookSignature, webhookSignature } from "../../../src/webhooks/signature.ts";
import { Webhooks, type WebhooksOptions } from "../../../src/webhooks/webhooks.ts";
import { startHttpReceiver, type HttpReceiver, type ReplyHandler } from "../../e2e/helpers/httpReceiver.ts";

const SECRET = "whsec_test";
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function receiver(handler?: ReplyHandler): Promise<HttpReceiver> {
  const r = await startHttpReceiver(handler);
  cleanups.push(() => r.close());
  return r;
}

function webhooks(urls: string[], overrides: Partial<WebhookConfig> = {}, opts: Partial<WebhooksOptions> = {}) {
  const metrics = new Metrics();
  const w = new Webhooks({
    config: { urls, secret: SECRET, timeoutMs: 2000, retries: 3, ...overrides },
    metrics,
    log: pino({ level: "silent" }),
    version: "0.0.0-test",
    backoffBaseMs: 10,
    backoffMaxMs: 40,
    ...opts,
  });
  cleanups.push(() => w.close(0));
  return { w, metrics };
}

const bodyOf = (r: { body: string }) => JSON.parse(r.body) as WebhookEvent;

async function metricValue(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value;
}

describe("the signature scheme", () => {
  it("is hex HMAC-SHA256 over timestamp.body, and verification refuses a changed body, timestamp or key", () => {
    const body = '{"id":"evt_1","type":"room.opened"}';
    const sig = webhookSignature("k", 1_700_000_000, body);
    // Known answer, from `printf '1700000000.{"id":"evt_1","type":"room.opened"}' | openssl dgst -sha256 -hmac k`.
    expect(sig).toBe("sha256=9e1d05a4d7331ce4289c94ffacf1c974b17fd385b54f6cbc9d15abce3e0c57bb");
    const ok = { secret: "k", body, signature: sig, timestamp: "1700000000", nowSec: 1_700_000_010 };
    expect(verifyWebhookSignature(ok)).toBe(true);
    expect(verifyWebhookSignature({ ...ok, body: body.replace("opened", "closed") })).toBe(false);
    expect(verifyWebhookSignature({ ...ok, timestamp: "1700000001" })).toBe(false);
    expect(verifyWebhookSignature({ ...ok, secret: "other" })).toBe(false);
    // A replay long after: refused by the timestamp even though the signature matches.
    expect(verifyWebhookSignature({ ...ok, nowSec: 1_700_000_000 + 301 })).toBe(false);
    expect(verifyWebhookSignature({ ...ok, signature: null })).toBe(false);
    expect(verifyWebhookSignature({ ...ok, timestamp: "soon" })).toBe(false);
  });
});

describe("retry policy", () => {
  it("retries network errors, 5xx and 429 only", () => {
    for (const s of [500, 502, 503, 504, 429]) expect(isRetriableStatus(s)).toBe(true);
    for (const s of [400, 401, 403, 404, 410, 301]) expect(isRetriableStatus(s)).toBe(false);
  });

  it("doubles the delay up to the cap, with up to half of it random", () => {
    expect(backoffDelay(1, 1000, 60_000, () => 0)).toBe(500);
    expect(backoffDelay(1, 1000, 60_000, () => 1)).toBe(1000);
    expect(backoffDelay(3, 1000, 60_000, () => 1)).toBe(4000);
    expect(backoffDelay(20, 1000, 60_000, () => 1)).toBe(60_000);
    expect(backoffDelay(20, 1000, 60_000, () => 0)).toBe(30_000);
  });

  it("reads Retry-After as seconds or an HTTP date", () => {
    expect(retryAfterMs("3")).toBe(3000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(retryAfterMs("soon")).toBeUndefined();
    expect(retryAfterMs(null)).toBeUndefined();
  });
});

describe("delivery to a real receiver", () => {
  it("POSTs the event as JSON with the event type, a timestamp and a signature the receiver can verify", async () => {
    const r = await receiver();
    const { w, metrics } = webhooks([`${r.url}/hooks`]);
    w.emit("room.opened", { room: "lobby" });
    const [req] = await r.waitForRequests(1);
    expect(req?.method).toBe("POST");
    expect(req?.path).toBe("/hooks");
    expect(req?.headers["content-type"]).toBe("application/json");
    expect(req?.headers["x-roomcast-event"]).toBe("room.opened");
    expect(req?.headers["user-agent"]).toBe("roomcast/0.0.0-test");
    const signature = req?.headers["x-roomcast-signature"] as string;
    const timestamp = req?.headers["x-roomcast-timestamp"] as string;
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature({ secret: SECRET, body: req?.body ?? "", signature, timestamp })).toBe(true);
    const event = bodyOf(req as { body: string });
    expect(event).toEqual({ id: expect.stringMatching(/^evt_/), type: "room.opened", time: expect.any(String), data: { room: "lobby" } });
    expect(Math.abs(Date.parse(event.time) - Date.now())).toBeLessThan(5000);
    await vi.waitFor(async () => expect(await metricValue(metrics, "roomcast_webhook_events_total", { receiver: "env1", result: "sent" })).toBe(1));
    expect(w.list()[0]).toMatchObject({ id: "env1", source: "env", sent: 1, failed: 0, dropped: 0, lastStatus: 204, lastError: null });
  });

  it("sends no signature header without WEBHOOK_SECRET", async () => {
    const r = await receiver();
    const { w } = webhooks([r.url], { secret: undefined });
    w.emit("room.opened", { room: "a" });
    const [req] = await r.waitForRequests(1);
    expect(req?.headers["x-roomcast-signature"]).toBeUndefined();
    expect(req?.headers["x-roomcast-timestamp"]).toMatch(/^\d+$/);
  });

  it("retries a 500 and a 429 with the same event id, each attempt signed anew, until a 2xx", async () => {
    const statuses = [500, 429, 200];
    const r = await receiver(() => ({ status: statuses.shift() ?? 200, headers: { "Retry-After": "0" } }));
    const { w, metrics } = webhooks([r.url]);
    w.emit("publisher.joined", { room: "a", session: "s1" });
    const reqs = await r.waitForRequests(3);
    const ids = reqs.map((q) => bodyOf(q).id);
    expect(new Set(ids).size).toBe(1);
    for (const q of reqs) {
      expect(verifyWebhookSignature({ secret: SECRET, body: q.body, signature: q.headers["x-roomcast-signature"] as string, timestamp: q.headers["x-roomcast-timestamp"] as string })).toBe(true);
    }
    await vi.waitFor(() => expect(w.list()[0]).toMatchObject({ sent: 1, failed: 0, lastStatus: 200 }));
    expect(w.list()[0]?.lastError).toBe("HTTP 429");
    expect(await metricValue(metrics, "roomcast_webhook_retries_total", { receiver: "env1" })).toBe(2);
  });

  it("does not retry a 4xx other than 429: the event fails at once", async () => {
    const r = await receiver(() => ({ status: 400 }));
    const { w, metrics } = webhooks([r.url]);
    w.emit("room.closed", { room: "a" });
    await vi.waitFor(() => expect(w.list()[0]).toMatchObject({ failed: 1, sent: 0, lastStatus: 400, lastError: "HTTP 400" }));
    // Long enough for a retry with this backoff (10-40 ms) to have happened.
    await new Promise((res) => setTimeout(res, 150));
    expect(r.requests).toHaveLength(1);
    expect(await metricValue(metrics, "roomcast_webhook_events_total", { receiver: "env1", result: "failed" })).toBe(1);
  });

  it("gives up after WEBHOOK_RETRIES retries of a receiver that keeps failing", async () => {
    const r = await receiver(() => ({ status: 503 }));
    const { w } = webhooks([r.url], { retries: 2 });
    w.emit("room.closed", { room: "a" });
    await vi.waitFor(() => expect(w.list()[0]).toMatchObject({ failed: 1, queued: 0 }));
    expect(r.requests).toHaveLength(3);
  });

  it("times an attempt out (WEBHOOK_TIMEOUT) and retries it", async () => {
    let first = true;
    const r = await receiver(() => {
      const hang = first;
      first = false;
      return hang ? { status: 200, delayMs: 5000 } : { status: 200 };
    });
    const { w } = webhooks([r.url], { timeoutMs: 200 });
    w.emit("room.opened", { room: "a" });
    await vi.waitFor(() => expect(w.list()[0]).toMatchObject({ sent: 1 }), { timeout: 3000 });
    expect(r.requests).toHaveLength(2);
    expect(w.list()[0]?.lastError).toBe("timed out after 200 ms");
  });

  it("retries when nothing listens, and says why", async () => {
    const r = await receiver();
    const url = r.url;
    await r.close();
    const { w } = webhooks([url], { retries: 1 });
    w.emit("room.opened", { room: "a" });
    await vi.waitFor(() => expect(w.list()[0]).toMatchObject({ failed: 1 }), { timeout: 3000 });
    expect(w.list()[0]?.lastError).toMatch(/ECONNREFUSED|refused|Unable to connect/i);
  });

  it("does not follow a redirect: a 3xx is a failure to see in lastError", async () => {
    const target = await receiver();
    const r = await receiver(() => ({ status: 307, headers: { Location: target.url } }));
    const { w } = webhooks([r.url]);
    w.emit("room.opened", { room: "a" });
    await vi.waitFor(() => expect(w.list()[0]).toMatchObject({ failed: 1, lastStatus: 307 }));
    expect(target.requests).toHaveLength(0);
  });
});

describe("a slow receiver", () => {
  it("has at most 4 requests in flight, and a bounded queue that drops the oldest events and counts them", async () => {
    const r = await receiver(() => ({ status: 200, delayMs: 300 }));
    const { w, metrics } = webhooks([r.url], {}, { queueSize: 5 });
    // Ten rooms, so ordering per room does not hold anything back: only the in-flight limit and the queue do.
    for (let i = 0; i < 10; i++) w.emit("room.opened", { room: `r${i}` });
    await r.waitForRequests(4);
    await new Promise((res) => setTimeout(res, 50));
    expect(r.open).toBe(4);
    // 4 in flight, 6 queued in a queue of 5: the oldest waiting one (r4) was dropped.
    expect(w.list()[0]).toMatchObject({ inFlight: 4, queued: 5, dropped: 1 });
    expect(await metricValue(metrics, "roomcast_webhook_events_total", { receiver: "env1", result: "dropped" })).toBe(1);
    expect(await metricValue(metrics, "roomcast_webhook_queue_length", { receiver: "env1" })).toBe(5);
    await vi.waitFor(() => expect(w.list()[0]).toMatchObject({ sent: 9, queued: 0, inFlight: 0 }), { timeout: 5000 });
    const rooms = r.requests.map((q) => (bodyOf(q).data as { room: string }).room);
    expect(rooms.sort()).toEqual(["r0", "r1", "r2", "r3", "r5", "r6", "r7", "r8", "r9"]);
  });

  it("never makes emit wait: 10,000 events to a receiver that hangs are enqueued at once", async () => {
    const r = await receiver(() => ({ status: 200, delayMs: 10_000 }));
    const { w } = webhooks([r.url], { timeoutMs: 5000 });
    for (let i = 0; i < 10_000; i++) w.emit("viewer.joined", { room: `r${i % 50}`, session: String(i), viewers: 1 });
    const info = w.list()[0];
    expect(info).toMatchObject({ queued: 1000 });
    expect((info?.dropped ?? 0) + (info?.queued ?? 0) + (info?.inFlight ?? 0)).toBe(10_000);
  });

  it("delivers one room's events in order, even across retries, while other rooms go ahead", async () => {
    let failFirst = true;
    const r = await receiver((req) => {
      const e = bodyOf(req);
      if (failFirst && e.type === "publisher.left") {
        failFirst = false;
        return { status: 500 };
      }
      return { status: 200, delayMs: e.type === "publisher.left" ? 50 : 0 };
    });
    const { w } = webhooks([r.url]);
    w.emit("publisher.left", { room: "a", session: "p" });
    w.emit("room.closed", { room: "a" });
    w.emit("room.opened", { room: "b" });
    await vi.waitFor(() => expect(w.list()[0]).toMatchObject({ sent: 3 }));
    const seq = r.requests.map((q) => `${bodyOf(q).type}:${(bodyOf(q).data as { room: string }).room}`);
    // b does not wait for a's retry; a's room.closed waits for its publisher.left to be delivered.
    expect(seq.indexOf("room.opened:b")).toBeLessThan(seq.lastIndexOf("publisher.left:a"));
    expect(seq.lastIndexOf("publisher.left:a")).toBeLessThan(seq.indexOf("room.closed:a"));
    expect(seq.filter((s) => s === "publisher.left:a")).toHaveLength(2);
  });
});

describe("receivers and event filters", () => {
  it("gives each receiver only the events it asked for", async () => {
    const all = await receiver();
    const some = await receiver();
    const { w } = webhooks([all.url]);
    w.add(some.url, ["room.closed"]);
    w.emit("room.opened", { room: "a" });
    w.emit("room.closed", { room: "a" });
    await all.waitForRequests(2);
    const [only] = await some.waitForRequests(1);
    expect(bodyOf(only as { body: string }).type).toBe("room.closed");
    await new Promise((res) => setTimeout(res, 50));
    expect(some.requests).toHaveLength(1);
  });

  it("a removed receiver stops at once: its queue is dropped, its series leave /metrics", async () => {
    const r = await receiver(() => ({ status: 200, delayMs: 5000 }));
    const { w, metrics } = webhooks([r.url], {}, { maxInFlight: 1 });
    w.emit("room.opened", { room: "a" });
    w.emit("room.closed", { room: "a" });
    await r.waitForRequests(1);
    expect(w.remove("env1")).toBe(true);
    expect(w.remove("env1")).toBe(false);
    expect(w.list()).toEqual([]);
    expect(await metricValue(metrics, "roomcast_webhook_events_total", { receiver: "env1" })).toBeUndefined();
    w.emit("room.opened", { room: "b" });
    await new Promise((res) => setTimeout(res, 50));
    expect(r.requests).toHaveLength(1);
  });

  it("test() sends a `test` event at once and returns the receiver's status", async () => {
    const r = await receiver(() => ({ status: 202 }));
    const { w } = webhooks([r.url]);
    const result = await w.test("env1");
    expect(result).toMatchObject({ ok: true, status: 202, error: null });
    const [req] = r.requests;
    expect(bodyOf(req as { body: string })).toMatchObject({ id: result?.event, type: "test", data: { message: expect.any(String) } });
    expect(req?.headers["x-roomcast-event"]).toBe("test");
    expect(await w.test("nope")).toBeUndefined();
    r.handler = () => ({ status: 500 });
    expect(await w.test("env1")).toMatchObject({ ok: false, status: 500, error: "HTTP 500" });
    expect(w.list()[0]).toMatchObject({ sent: 1, failed: 1 });
  });

  it("close() waits for the queues to empty within its budget", async () => {
    const r = await receiver(() => ({ status: 200, delayMs: 100 }));
    const { w } = webhooks([r.url]);
    w.emit("room.closed", { room: "a" });
    w.emit("room.closed", { room: "b" });
    await w.close(3000);
    expect(r.requests).toHaveLength(2);
    expect(w.list()[0]).toMatchObject({ sent: 2, dropped: 0 });
    // Closed: nothing more is sent.
    w.emit("room.opened", { room: "c" });
    await new Promise((res) => setTimeout(res, 50));
    expect(r.requests).toHaveLength(2);
  });

  it("close() with a receiver that hangs gives up at the budget and counts the rest as dropped", async () => {
    const r = await receiver(() => ({ status: 200, delayMs: 10_000 }));
    const { w } = webhooks([r.url]);
    w.emit("room.closed", { room: "a" });
    w.emit("room.closed", { room: "a" });
    const started = Date.now();
    await w.close(200);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(w.list()[0]).toMatchObject({ sent: 0, dropped: 2, inFlight: 0, queued: 0 });
  });
});
