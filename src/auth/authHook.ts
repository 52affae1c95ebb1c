// AUTH_HOOK_URL: an external service that decides who may publish, play or read recordings, as MediaMTX's
// `authHTTPAddress` and Broadcast Box's webhook do. Before such a request the server POSTs
//
//   {"room": "lobby", "action": "publish" | "play" | "records", "token": "..." | null, "ip": "203.0.113.7" | null}
//
// (room "*" for a listing of every room) and follows the answer:
//   2xx            allow. An optional JSON body narrows it: {"can": ["play"]} allows only the actions listed,
//                  {"rooms": ["a", "b"]} limits a "*" listing to those rooms, {"ladder": "480p:1200k"} sets a
//                  publish's transcoding ladder (as a JWT's ladder claim does).
//   401, 403       deny with that status.
//   anything else  (another status, a body that is not what is described above, a network error, or no answer
//                  within AUTH_HOOK_TIMEOUT): 503, or allow when AUTH_HOOK_FAIL_OPEN=true.
//
// Answers are reused for AUTH_HOOK_CACHE (denials for at most DENY_CACHE_MAX_MS), keyed by room, action, a hash of
// the token and the client's address, in a bounded map; identical questions asked while one is in flight share it.
// Failures are never cached: the next request asks again.
import { createHash } from "node:crypto";
import type { AuthHookConfig } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { RoomAction } from "./authorizer.ts";

export type HookAction = RoomAction | "records";
const HOOK_ACTIONS: readonly HookAction[] = ["publish", "play", "records"];

export interface HookQuery {
  /** A room name, or "*" for a listing of every room. */
  room: string;
  action: HookAction;
  token: string | undefined;
  ip: string | undefined;
}

export type HookDecision =
  | { ok: true; rooms: string[] | undefined; ladder: string | undefined; failOpen: boolean }
  | { ok: false; status: 401 | 403 | 503; reason: string };

type Answer =
  | { kind: "allow"; can: HookAction[] | undefined; rooms: string[] | undefined; ladder: string | undefined }
  | { kind: "deny"; status: 401 | 403; reason: string }
  | { kind: "error"; result: "error" | "timeout"; reason: string };

/** A denial is reused for less time than an allow: whoever was refused may be allowed a moment later. */
export const DENY_CACHE_MAX_MS = 2000;
export const DEFAULT_MAX_CACHE_ENTRIES = 10_000;
/** Enough for any answer described above; a bigger body is not one. */
const MAX_ANSWER_BYTES = 64 * 1024;
const MAX_REASON_LENGTH = 200;

export interface AuthHookOptions {
  config: AuthHookConfig;
  metrics: Metrics;
  log: Logger;
  version: string;
  maxCacheEntries?: number;
  now?: () => number;
}

export class AuthHook {
  readonly #opts: AuthHookOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #maxEntries: number;
  readonly #cache = new Map<string, { answer: Answer; expires: number }>();
  readonly #inFlight = new Map<string, Promise<Answer>>();
  #lastWarnAt = 0;

  constructor(opts: AuthHookOptions) {
    this.#opts = opts;
    this.#log = opts.log.child({ component: "auth-hook" });
    this.#now = opts.now ?? Date.now;
    this.#maxEntries = opts.maxCacheEntries ?? DEFAULT_MAX_CACHE_ENTRIES;
  }

  get cacheSize(): number {
    return this.#cache.size;
  }

  async decide(q: HookQuery): Promise<HookDecision> {
    const answer = await this.#answer(q);
    switch (answer.kind) {
      case "allow":
        if (answer.can !== undefined && !answer.can.includes(q.action)) {
          return { ok: false, status: 403, reason: `the auth hook does not allow ${q.action}` };
        }
        return { ok: true, rooms: answer.rooms, ladder: q.action === "publish" ? answer.ladder : undefined, failOpen: false };
      case "deny":
        return { ok: false, status: answer.status, reason: answer.reason };
      case "error":
        if (this.#opts.config.failOpen) return { ok: true, rooms: undefined, ladder: undefined, failOpen: true };
        return { ok: false, status: 503, reason: "the auth service is unavailable, try again shortly" };
    }
  }

  #answer(q: HookQuery): Promise<Answer> {
    const key = `${q.room}\n${q.action}\n${q.token === undefined ? "-" : createHash("sha256").update(q.token).digest("base64url")}\n${q.ip ?? "-"}`;
    const now = this.#now();
    const cached = this.#cache.get(key);
    if (cached && cached.expires > now) {
      this.#opts.metrics.authHookCacheHits.inc();
      return Promise.resolve(cached.answer);
    }
    if (cached) this.#cache.delete(key);
    const pending = this.#inFlight.get(key);
    if (pending) {
      this.#opts.metrics.authHookCacheHits.inc();
      return pending;
    }
    const asked = this.#ask(q).then((answer) => {
      this.#inFlight.delete(key);
      this.#remember(key, answer);
      return answer;
    });
    this.#inFlight.set(key, asked);
    return asked;
  }

  #remember(key: string, answer: Answer): void {
    const { cacheMs } = this.#opts.config;
    const ttl = answer.kind === "allow" ? cacheMs : answer.kind === "deny" ? Math.min(cacheMs, DENY_CACHE_MAX_MS) : 0;
    if (ttl <= 0) return;
    // A Map iterates in insertion order: the first key is the oldest entry.
    while (this.#cache.size >= this.#maxEntries) {
      const oldest = this.#cache.keys().next();
      if (oldest.done) break;
      this.#cache.delete(oldest.value);
    }
    this.#cache.set(key, { answer, expires: this.#now() + ttl });
  }

  async #ask(q: HookQuery): Promise<Answer> {
    const { config, metrics } = this.#opts;
    const started = performance.now();
    let answer: Answer;
    try {
      const res = await fetch(config.url, {
        method: "POST",
        headers: { "Content-Type": "application/json", "User-Agent": `roomcast/${this.#opts.version}` },
        body: JSON.stringify({ room: q.room, action: q.action, token: q.token ?? null, ip: q.ip ?? null }),
        signal: AbortSignal.timeout(config.timeoutMs),
        redirect: "manual",
      });
      const text = await res.text();
      answer = interpretAnswer(res.status, res.headers.get("content-type"), text);
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
      answer = { kind: "error", result: timedOut ? "timeout" : "error", reason: timedOut ? `no answer within ${config.timeoutMs} ms` : String((err as Error).message ?? err) };
    }
    metrics.authHookDuration.observe((performance.now() - started) / 1000);
    metrics.authHookRequests.labels(answer.kind === "error" ? answer.result : answer.kind).inc();
    if (answer.kind === "error") this.#warn(q, answer.reason);
    else this.#log.debug({ room: q.room, action: q.action, ip: q.ip, answer: answer.kind }, "auth hook answered");
    return answer;
  }

  /** A hook that is down fails every request: one warning per 10 s is enough to see it. */
  #warn(q: HookQuery, reason: string): void {
    const now = this.#now();
    const fields = { room: q.room, action: q.action, reason, failOpen: this.#opts.config.failOpen };
    if (now - this.#lastWarnAt >= 10_000) {
      this.#lastWarnAt = now;
      this.#log.warn(fields, this.#opts.config.failOpen ? "auth hook failed: allowing (AUTH_HOOK_FAIL_OPEN)" : "auth hook failed: refusing with 503");
    } else {
      this.#log.debug(fields, "auth hook failed");
    }
  }
}

/** What an answer of the hook means; exported for tests. */
export function interpretAnswer(status: number, contentType: string | null, body: string): Answer {
  if (status === 401 || status === 403) return { kind: "deny", status, reason: denyReason(contentType, body) };
  if (status < 200 || status > 299) return { kind: "error", result: "error", reason: `the hook answered HTTP ${status}` };
  if (body.trim() === "" || !/\bjson\b/i.test(contentType ?? "")) return { kind: "allow", can: undefined, rooms: undefined, ladder: undefined };
  if (body.length > MAX_ANSWER_BYTES) return { kind: "error", result: "error", reason: "the hook's answer is too big" };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { kind: "error", result: "error", reason: "the hook answered 2xx with a JSON body that does not parse" };
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return { kind: "error", result: "error", reason: "the hook's JSON answer is not an object" };
  }
  const { can, rooms, ladder } = parsed as Record<string, unknown>;
  if (can !== undefined && (!Array.isArray(can) || !can.every((a) => HOOK_ACTIONS.includes(a as HookAction)))) {
    return { kind: "error", result: "error", reason: `the hook's "can" must be a list of ${HOOK_ACTIONS.join(", ")}` };
  }
  if (rooms !== undefined && (!Array.isArray(rooms) || !rooms.every((r) => typeof r === "string"))) {
    return { kind: "error", result: "error", reason: 'the hook\'s "rooms" must be a list of room names' };
  }
  if (ladder !== undefined && typeof ladder !== "string") return { kind: "error", result: "error", reason: 'the hook\'s "ladder" must be a string' };
  return { kind: "allow", can: can as HookAction[] | undefined, rooms: rooms as string[] | undefined, ladder };
}

function denyReason(contentType: string | null, body: string): string {
  if (/\bjson\b/i.test(contentType ?? "")) {
    try {
      const e = (JSON.parse(body) as { error?: unknown }).error;
      if (typeof e === "string" && e !== "") return e.slice(0, MAX_REASON_LENGTH);
    } catch {
      // A denial stays a denial whatever its body.
    }
  }
  return "refused by the auth hook";
}
