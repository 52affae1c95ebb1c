// The server's webhook receivers: those of WEBHOOK_URLS (ids env1, env2, ...) and those the admin API adds (random
// ids), at most MAX_WEBHOOK_RECEIVERS together. emit() builds an event once and hands it to every receiver that
// wants it; each delivers on its own (receiver.ts), so a slow or dead receiver costs only its own queue.
import { randomBytes } from "node:crypto";
import { MAX_WEBHOOK_RECEIVERS, type WebhookConfig } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { newWebhookEvent, type WebhookEventData, type WebhookEventType } from "./events.ts";
import { WebhookReceiver, type ReceiverInfo, type ReceiverOptions, type TestResult, type WebhookTransport } from "./receiver.ts";

export interface WebhooksOptions {
  config: WebhookConfig;
  metrics: Metrics;
  log: Logger;
  version: string;
  /** This node's id, put in every event, when the server is one node of a cluster. */
  node?: string;
  transport?: WebhookTransport;
  /** Per receiver; tests shrink them. */
  queueSize?: number;
  maxInFlight?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

/** A receiver that cannot be added because of the receivers already there (HTTP 409). */
export class WebhookConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WebhookConflictError";
  }
}

export class Webhooks {
  readonly #opts: WebhooksOptions;
  readonly #receivers = new Map<string, WebhookReceiver>();
  #closed = false;

  constructor(opts: WebhooksOptions) {
    this.#opts = opts;
    opts.config.urls.forEach((url, i) => this.#add(`env${i + 1}`, url, "env", undefined));
    if (opts.config.urls.length > 0 && opts.config.secret === undefined) {
      opts.log.warn({ receivers: opts.config.urls.length }, "WEBHOOK_URLS without WEBHOOK_SECRET: webhook requests are not signed");
    }
  }

  /** Called where things happen (room, session, recording, transcoder changes): O(receivers), never waits. */
  emit<T extends WebhookEventType>(type: T, data: WebhookEventData[T]): void {
    if (this.#closed) return;
    let body: string | undefined;
    let event;
    for (const receiver of this.#receivers.values()) {
      if (!receiver.wants(type)) continue;
      event ??= newWebhookEvent(type, data, this.#opts.node);
      body ??= JSON.stringify(event);
      receiver.enqueue(event, body);
    }
  }

  list(): ReceiverInfo[] {
    return [...this.#receivers.values()].map((r) => r.info());
  }

  get(id: string): ReceiverInfo | undefined {
    return this.#receivers.get(id)?.info();
  }

  /** A receiver from the admin API. `url` and `events` are already validated by the caller (the HTTP layer). */
  add(url: string, events: readonly WebhookEventType[] | undefined): ReceiverInfo {
    if (this.#receivers.size >= MAX_WEBHOOK_RECEIVERS) {
      throw new WebhookConflictError(`too many webhook receivers: at most ${MAX_WEBHOOK_RECEIVERS}`);
    }
    for (const r of this.#receivers.values()) {
      if (r.url === url) throw new WebhookConflictError(`${url} is already a webhook receiver (id ${r.id})`);
    }
    let id: string;
    do id = `wh_${randomBytes(4).toString("hex")}`;
    while (this.#receivers.has(id));
    const receiver = this.#add(id, url, "api", events === undefined ? undefined : new Set(events));
    this.#opts.log.info({ receiver: id, origin: new URL(url).origin, events: events ?? "all" }, "webhook receiver added");
    return receiver.info();
  }

  /** False for an unknown id. Env receivers can be removed too, until the next start reads WEBHOOK_URLS again. */
  remove(id: string): boolean {
    const receiver = this.#receivers.get(id);
    if (!receiver) return false;
    this.#receivers.delete(id);
    receiver.close();
    this.#opts.metrics.forgetWebhookReceiver(id);
    this.#opts.log.info({ receiver: id, source: receiver.source }, "webhook receiver removed");
    return true;
  }

  /** Sends a `test` event to one receiver now; undefined for an unknown id. */
  async test(id: string): Promise<TestResult | undefined> {
    const receiver = this.#receivers.get(id);
    if (!receiver) return undefined;
    return receiver.sendNow(newWebhookEvent("test", { message: "a test event from roomcast" }, this.#opts.node));
  }

  /** Shutdown: waits up to `budgetMs` for every queue to empty (room.closed events included), then stops. */
  async close(budgetMs: number): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const receivers = [...this.#receivers.values()];
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(receivers.map((r) => r.idle())),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, budgetMs);
        timer.unref?.();
      }),
    ]);
    clearTimeout(timer);
    for (const r of receivers) r.close();
  }

  #add(id: string, url: string, source: ReceiverOptions["source"], events: ReadonlySet<WebhookEventType> | undefined): WebhookReceiver {
    const { config, metrics, log, version } = this.#opts;
    const receiver = new WebhookReceiver({
      id,
      url,
      source,
      events,
      secret: config.secret,
      timeoutMs: config.timeoutMs,
      retries: config.retries,
      userAgent: `roomcast/${version}`,
      metrics,
      log,
      transport: this.#opts.transport,
      queueSize: this.#opts.queueSize,
      maxInFlight: this.#opts.maxInFlight,
      backoffBaseMs: this.#opts.backoffBaseMs,
      backoffMaxMs: this.#opts.backoffMaxMs,
    });
    this.#receivers.set(id, receiver);
    return receiver;
  }
}
