// One webhook receiver: its queue and its deliveries. Events are handed over in O(1) and sent in the background,
// never on the media or request path:
//
//   enqueue ──▶ queue (bounded: the oldest is dropped and counted) ──▶ in flight (at most maxInFlight requests)
//                  ▲                                                      │ 2xx: sent
//                  └── waiting for a retry (backoff with jitter) ◀────────┤ network error, timeout, 5xx, 429
//                                                                         └ other status, or retries used up: failed
//
// Each room's events are delivered one at a time, in order (a room.closed never overtakes its publisher.left, even
// across retries); events of different rooms go out side by side, up to maxInFlight.
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { AnyWebhookEventType, WebhookEvent, WebhookEventType } from "./events.ts";
import { KeyedQueue } from "./queue.ts";
import { EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, webhookSignature } from "./signature.ts";

export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** Aborted when the receiver is removed or the server stops. */
  signal: AbortSignal;
}

export interface WebhookResponse {
  status: number;
  retryAfter: string | null;
}

/** Sends one attempt; rejects on network errors and timeouts. */
export type WebhookTransport = (req: WebhookRequest) => Promise<WebhookResponse>;

export const fetchTransport: WebhookTransport = async (req) => {
  const res = await fetch(req.url, {
    method: "POST",
    headers: req.headers,
    body: req.body,
    signal: AbortSignal.any([req.signal, AbortSignal.timeout(req.timeoutMs)]),
    // A receiver answers itself: a redirect is a misconfiguration to see in lastError, not to follow blindly.
    redirect: "manual",
  });
  // Only the status matters; reading the body to its end lets the connection be reused.
  await res.arrayBuffer().catch(() => undefined);
  return { status: res.status, retryAfter: res.headers.get("retry-after") };
};

export type ReceiverSource = "env" | "api";

export interface ReceiverOptions {
  id: string;
  url: string;
  source: ReceiverSource;
  /** Event types this receiver gets; undefined = all. */
  events: ReadonlySet<WebhookEventType> | undefined;
  secret: string | undefined;
  timeoutMs: number;
  retries: number;
  userAgent: string;
  metrics: Metrics;
  log: Logger;
  transport?: WebhookTransport;
  queueSize?: number;
  maxInFlight?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

export const DEFAULT_QUEUE_SIZE = 1000;
export const DEFAULT_MAX_IN_FLIGHT = 4;
export const DEFAULT_BACKOFF_BASE_MS = 1000;
export const DEFAULT_BACKOFF_MAX_MS = 60_000;
/** A receiver that keeps failing is logged at warn at most this often; the rest go to debug. */
const WARN_EVERY_MS = 10_000;

export interface ReceiverInfo {
  id: string;
  url: string;
  source: ReceiverSource;
  events: WebhookEventType[] | null;
  sent: number;
  failed: number;
  dropped: number;
  queued: number;
  inFlight: number;
  lastStatus: number | null;
  lastError: string | null;
  lastErrorAt: string | null;
  lastSentAt: string | null;
}

export interface TestResult {
  event: string;
  ok: boolean;
  /** The receiver's HTTP status; null when it could not be reached. */
  status: number | null;
  error: string | null;
  durationMs: number;
}

interface Pending {
  event: WebhookEvent;
  body: string;
  key: string | undefined;
  attempts: number;
}

/** Only these are worth another attempt: the receiver may be back soon. Other 4xx will not change by retrying. */
export function isRetriableStatus(status: number): boolean {
  return status >= 500 || status === 429;
}

/** Delay before attempt `attempts + 1`: doubling from base, capped, with half of it random so retries spread out. */
export function backoffDelay(attempts: number, baseMs: number, maxMs: number, random = Math.random): number {
  const full = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(full / 2 + (random() * full) / 2);
}

/** Retry-After in seconds or as an HTTP date, in milliseconds; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined;
  const v = header.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function describe(err: unknown, timeoutMs: number): string {
  if (err instanceof Error) {
    if (err.name === "TimeoutError") return `timed out after ${timeoutMs} ms`;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const code = (err as { code?: string }).code ?? cause?.code;
    return code ? `${code}: ${cause?.message ?? err.message}` : err.message;
  }
  return String(err);
}

function roomOf(event: WebhookEvent): string | undefined {
  const data = event.data as { room?: unknown };
  return typeof data.room === "string" ? data.room : undefined;
}

export class WebhookReceiver {
  readonly id: string;
  readonly url: string;
  readonly source: ReceiverSource;
  readonly events: ReadonlySet<WebhookEventType> | undefined;
  sent = 0;
  failed = 0;
  dropped = 0;
  lastStatus: number | null = null;
  lastError: string | null = null;
  lastErrorAt: string | null = null;
  lastSentAt: string | null = null;

  readonly #opts: ReceiverOptions;
  readonly #log: Logger;
  readonly #transport: WebhookTransport;
  readonly #queueSize: number;
  readonly #maxInFlight: number;
  readonly #queue = new KeyedQueue<Pending>();
  /** Rooms with an event in flight or waiting for its retry: their later events wait behind it. */
  readonly #busy = new Set<string>();
  /** Retries whose delay is over, sent before anything from the queue. */
  readonly #retryReady: Pending[] = [];
  readonly #retryTimers = new Map<ReturnType<typeof setTimeout>, Pending>();
  readonly #abort = new AbortController();
  readonly #idleWaiters: (() => void)[] = [];
  #inFlight = 0;
  #closed = false;
  #lastWarnAt = 0;

  constructor(opts: ReceiverOptions) {
    this.id = opts.id;
    this.url = opts.url;
    this.source = opts.source;
    this.events = opts.events;
    this.#opts = opts;
    // The URL may carry credentials (user:pass@, a token in the query): logs name the receiver by id and origin.
    this.#log = opts.log.child({ component: "webhooks", receiver: opts.id, origin: new URL(opts.url).origin });
    this.#transport = opts.transport ?? fetchTransport;
    this.#queueSize = opts.queueSize ?? DEFAULT_QUEUE_SIZE;
    this.#maxInFlight = opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    for (const result of ["sent", "failed", "dropped"]) opts.metrics.webhookEvents.labels(opts.id, result).inc(0);
    opts.metrics.webhookRetries.labels(opts.id).inc(0);
    opts.metrics.webhookQueued.labels(opts.id).set(0);
  }

  wants(type: AnyWebhookEventType): boolean {
    return type === "test" || this.events === undefined || this.events.has(type);
  }

  /** Events waiting: in the queue, or between two attempts. */
  get queued(): number {
    return this.#queue.size + this.#retryReady.length + this.#retryTimers.size;
  }

  /** O(1): the event is sent later, in the background. `body` is the event's JSON, made once for all receivers. */
  enqueue(event: WebhookEvent, body: string): void {
    if (this.#closed) return;
    if (this.queued >= this.#queueSize) {
      // The oldest goes: a receiver that catches up is better served by recent events than by stale ones.
      if (this.#queue.shift() === undefined) {
        this.#drop(1, "queue full of retries");
        return;
      }
      this.#drop(1, "queue full");
    }
    this.#queue.push({ event, body, key: roomOf(event), attempts: 0 }, roomOf(event));
    this.#pump();
  }

  /** Sends a `test` event at once, outside the queue: one attempt, the receiver's answer returned. */
  async sendNow(event: WebhookEvent): Promise<TestResult> {
    const body = JSON.stringify(event);
    const started = Date.now();
    let status: number | null = null;
    let error: string | null = null;
    try {
      status = (await this.#send(event, body)).status;
      if (status < 200 || status > 299) error = `HTTP ${status}`;
    } catch (err) {
      error = describe(err, this.#opts.timeoutMs);
    }
    this.#record(status, error);
    if (error === null) this.#count("sent");
    else this.#count("failed");
    return { event: event.id, ok: error === null, status, error, durationMs: Date.now() - started };
  }

  info(): ReceiverInfo {
    return {
      id: this.id,
      url: this.url,
      source: this.source,
      events: this.events === undefined ? null : [...this.events],
      sent: this.sent,
      failed: this.failed,
      dropped: this.dropped,
      queued: this.queued,
      inFlight: this.#inFlight,
      lastStatus: this.lastStatus,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      lastSentAt: this.lastSentAt,
    };
  }

  /** Resolves once nothing is queued, waiting or in flight. */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stops at once: requests in flight are aborted, and what was still to send is counted as dropped. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#retryTimers.keys()) clearTimeout(timer);
    const left = this.#queue.clear().length + this.#retryReady.length + this.#retryTimers.size + this.#inFlight;
    this.#retryTimers.clear();
    this.#retryReady.length = 0;
    this.#busy.clear();
    this.#abort.abort();
    if (left > 0) this.#drop(left, "receiver closed");
    this.#inFlight = 0;
    this.#settleIdle();
  }

  #pump(): void {
    while (!this.#closed && this.#inFlight < this.#maxInFlight) {
      const next = this.#retryReady.shift() ?? this.#queue.takeReady(this.#busy);
      if (!next) break;
      if (next.key !== undefined) this.#busy.add(next.key);
      this.#inFlight++;
      void this.#attempt(next);
    }
    this.#opts.metrics.webhookQueued.labels(this.id).set(this.queued);
    this.#settleIdle();
  }

  async #attempt(p: Pending): Promise<void> {
    p.attempts++;
    let status: number | null = null;
    let error: string | null = null;
    let wait: number | undefined;
    try {
      const res = await this.#send(p.event, p.body);
      status = res.status;
      if (status < 200 || status > 299) error = `HTTP ${status}`;
      wait = retryAfterMs(res.retryAfter);
    } catch (err) {
      error = describe(err, this.#opts.timeoutMs);
    }
    if (this.#closed) return;
    this.#inFlight--;
    this.#record(status, error);
    if (error === null) {
      this.#count("sent");
      this.#done(p);
    } else if ((status === null || isRetriableStatus(status)) && p.attempts <= this.#opts.retries) {
      this.#retryLater(p, error, wait);
    } else {
      this.#count("failed");
      this.#complain({ event: p.event.type, id: p.event.id, attempts: p.attempts, error }, "webhook event not delivered");
      this.#done(p);
    }
    this.#pump();
  }

  #retryLater(p: Pending, error: string, retryAfter: number | undefined): void {
    const max = this.#opts.backoffMaxMs ?? DEFAULT_BACKOFF_MAX_MS;
    let delay = backoffDelay(p.attempts, this.#opts.backoffBaseMs ?? DEFAULT_BACKOFF_BASE_MS, max);
    if (retryAfter !== undefined) delay = Math.max(delay, Math.min(max, retryAfter));
    this.#opts.metrics.webhookRetries.labels(this.id).inc();
    this.#log.debug({ event: p.event.type, id: p.event.id, attempts: p.attempts, error, inMs: delay }, "webhook delivery failed; retrying");
    const timer = setTimeout(() => {
      this.#retryTimers.delete(timer);
      this.#retryReady.push(p);
      this.#pump();
    }, delay);
    timer.unref?.();
    this.#retryTimers.set(timer, p);
  }

  #send(event: WebhookEvent, body: string): Promise<WebhookResponse> {
    const timestamp = Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = {
      "Content-Type": "application/json",
      "User-Agent": this.#opts.userAgent,
      [EVENT_HEADER]: event.type,
      [TIMESTAMP_HEADER]: String(timestamp),
    };
    if (this.#opts.secret !== undefined) headers[SIGNATURE_HEADER] = webhookSignature(this.#opts.secret, timestamp, body);
    return this.#transport({ url: this.url, headers, body, timeoutMs: this.#opts.timeoutMs, signal: this.#abort.signal });
  }

  #done(p: Pending): void {
    if (p.key !== undefined) this.#busy.delete(p.key);
  }

  #record(status: number | null, error: string | null): void {
    this.lastStatus = status;
    if (error === null) {
      this.lastSentAt = new Date().toISOString();
      return;
    }
    this.lastError = error;
    this.lastErrorAt = new Date().toISOString();
  }

  #count(result: "sent" | "failed"): void {
    if (result === "sent") this.sent++;
    else this.failed++;
    this.#opts.metrics.webhookEvents.labels(this.id, result).inc();
  }

  #drop(n: number, why: string): void {
    this.dropped += n;
    this.#opts.metrics.webhookEvents.labels(this.id, "dropped").inc(n);
    this.#complain({ dropped: n, total: this.dropped, why }, "webhook events dropped");
  }

  /** A dead receiver must not flood the log: one warning per WARN_EVERY_MS, the rest at debug. */
  #complain(fields: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    if (now - this.#lastWarnAt >= WARN_EVERY_MS) {
      this.#lastWarnAt = now;
      this.#log.warn({ ...fields, lastError: this.lastError }, msg);
    } else {
      this.#log.debug(fields, msg);
    }
  }

  #isIdle(): boolean {
    return this.#closed || (this.queued === 0 && this.#inFlight === 0);
  }

  #settleIdle(): void {
    if (!this.#isIdle()) return;
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }
}
