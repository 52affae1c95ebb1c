// Stats captures: an admin starts one on a room, and every second its counters become a sample (sampler.ts); the
// capture is saved to DATA_DIR/captures every few seconds while it runs, and for good when it stops: by the admin,
// at its maximum duration or size, when the room closes, or when the server shuts down. One timer serves every
// running capture, and runs only while one does.
import type { Logger } from "../log.ts";
import { Capture } from "./capture.ts";
import { CaptureError } from "./errors.ts";
import { isCaptureId, newCaptureId } from "./ids.ts";
import type { RoomSnapshot } from "./sampler.ts";
import { CaptureStore, type StoreWriter } from "./store.ts";
import type { CaptureEvent, CaptureStarted, CaptureSummary, StopReason } from "../api.ts";

/** What captures hear from the rooms: the registry's events, in its words. */
export type CaptureRoomEvent =
  | { type: "room-opened" | "room-closed"; room: string }
  | { type: "session-opened" | "session-closed"; room: string; kind: "publisher" | "viewer"; session: string };

/** The rooms as captures read them (roomSnapshot.ts reads the registry). */
export interface CaptureRooms {
  /** The room's counters now, or undefined when no such room is open. */
  snapshot(room: string): RoomSnapshot | undefined;
  subscribe(listener: (event: CaptureRoomEvent) => void): () => void;
}

export interface CaptureLimits {
  /** Used when a start does not say. */
  defaultSeconds: number;
  maxSeconds: number;
  /** Captures kept (files and running ones together). */
  maxCaptures: number;
  /** The largest file a capture may grow to; it stops there. */
  maxBytes: number;
}

export const CAPTURE_LIMITS: CaptureLimits = {
  defaultSeconds: 600,
  maxSeconds: 3600,
  maxCaptures: 100,
  maxBytes: 16 * 1024 * 1024,
};

export interface CapturesOptions {
  dir: string;
  rooms: CaptureRooms;
  log: Logger;
  version: string;
  limits?: Partial<CaptureLimits>;
  /** Between samples (tests shorten it). */
  intervalMs?: number;
  /** Between saves of a running capture. */
  saveEveryMs?: number;
  writer?: StoreWriter;
}

export class Captures {
  readonly limits: CaptureLimits;
  readonly #opts: CapturesOptions;
  readonly #store: CaptureStore;
  readonly #intervalMs: number;
  readonly #saveEveryMs: number;
  /** Running captures, and stopped ones until their final save lands. */
  readonly #live = new Map<string, Capture>();
  /** The saved captures' summaries, so that a listing does not read every file. */
  readonly #index = new Map<string, CaptureSummary>();
  readonly #unsubscribe: () => void;
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastSave = 0;
  #closed = false;

  constructor(opts: CapturesOptions) {
    this.#opts = opts;
    const limits = { ...CAPTURE_LIMITS, ...opts.limits };
    this.limits = { ...limits, defaultSeconds: Math.min(limits.defaultSeconds, limits.maxSeconds) };
    this.#store = new CaptureStore(opts.dir, opts.writer);
    this.#intervalMs = opts.intervalMs ?? 1000;
    this.#saveEveryMs = opts.saveEveryMs ?? 5000;
    this.#unsubscribe = opts.rooms.subscribe((e) => this.#onRoom(e));
  }

  /**
   * Creates the folder, clears a crash's temp files and indexes the saved captures. A file still marked running
   * was left by a server that stopped without finishing it: it is marked interrupted.
   */
  async init(): Promise<void> {
    await this.#store.init();
    for (const id of await this.#store.ids()) {
      const file = await this.#store.read(id);
      if (!file) continue;
      let parsed: CaptureSummary & Record<string, unknown>;
      try {
        parsed = JSON.parse(file.json) as CaptureSummary & Record<string, unknown>;
      } catch {
        this.#opts.log.warn({ capture: id }, "capture file is not JSON; left out of the list");
        continue;
      }
      if (parsed.state === "running") {
        parsed.state = "interrupted";
        await this.#store.write(id, JSON.stringify(parsed)).catch((err) => this.#opts.log.warn({ err, capture: id }, "cannot mark capture interrupted"));
      }
      this.#index.set(id, summaryOf(parsed));
    }
  }

  /** Starts sampling `room` once a second; refused for an unknown room, a second capture of it, or past the limits. */
  async start(room: string, maxSeconds?: number): Promise<CaptureStarted> {
    if (this.#closed) throw new CaptureError("invalid", "the server is shutting down");
    const seconds = maxSeconds ?? this.limits.defaultSeconds;
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > this.limits.maxSeconds) {
      throw new CaptureError("invalid", `maxSeconds must be a whole number from 1 to ${this.limits.maxSeconds}`);
    }
    const baseline = this.#opts.rooms.snapshot(room);
    if (!baseline) throw new CaptureError("room_not_found", "room not found");
    for (const c of this.#live.values()) {
      if (c.room === room && c.state === "running") throw new CaptureError("already_running", `capture ${c.id} of this room is running`);
    }
    const kept = new Set([...(await this.#store.ids()), ...this.#live.keys()]).size;
    if (kept >= this.limits.maxCaptures) {
      throw new CaptureError("too_many", `at most ${this.limits.maxCaptures} captures are kept: delete some first`);
    }
    const startedAt = new Date(baseline.at);
    let id = newCaptureId(startedAt);
    while (this.#live.has(id) || this.#index.has(id)) id = newCaptureId(startedAt);
    const capture = new Capture(id, room, startedAt, seconds, this.limits.maxBytes);
    capture.sampler.baseline(baseline);
    this.#live.set(id, capture);
    this.#opts.log.info({ capture: id, room, maxSeconds: seconds }, "capture started");
    void this.#save(capture);
    this.#timer ??= setInterval(() => this.#tick(), this.#intervalMs);
    this.#timer.unref?.();
    return capture.started();
  }

  /** Stops a running capture and saves it for good; a stopped one is left as it is. */
  async stop(id: string): Promise<CaptureSummary> {
    const capture = this.#live.get(id);
    if (capture) {
      await this.#finish(capture, "stopped");
      return capture.summary();
    }
    const saved = await this.#saved(id);
    if (!saved) throw new CaptureError("not_found", "capture not found");
    return saved;
  }

  /** Every capture, running and saved, newest first. */
  async list(): Promise<CaptureSummary[]> {
    const out = new Map<string, CaptureSummary>();
    for (const id of await this.#store.ids()) {
      const s = this.#index.get(id);
      if (s) out.set(id, s);
    }
    for (const c of this.#live.values()) out.set(c.id, c.summary());
    return [...out.values()].sort((a, b) => (a.id < b.id ? 1 : -1));
  }

  /** The capture's JSON (types.ts CaptureFile): a running one's samples so far, or the saved file. */
  async json(id: string): Promise<string> {
    if (!isCaptureId(id)) throw new CaptureError("not_found", "capture not found");
    const capture = this.#live.get(id);
    if (capture) return capture.toJSON(this.#meta());
    const file = await this.#store.read(id);
    if (!file) throw new CaptureError("not_found", "capture not found");
    return file.json;
  }

  /** Deletes a capture (stopping it first if it runs). */
  async remove(id: string): Promise<void> {
    if (!isCaptureId(id)) throw new CaptureError("not_found", "capture not found");
    const capture = this.#live.get(id);
    if (capture) await this.#finish(capture, "stopped");
    const removed = await this.#store.remove(id);
    this.#index.delete(id);
    if (!removed && !capture) throw new CaptureError("not_found", "capture not found");
    this.#opts.log.info({ capture: id }, "capture deleted");
  }

  /** Server shutdown: every running capture stops and is saved; resolves when the saves have landed. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    await Promise.all([...this.#live.values()].map((c) => this.#finish(c, "server-shutdown")));
    this.#stopTimer();
    await this.#store.flushed();
  }

  get running(): number {
    let n = 0;
    for (const c of this.#live.values()) if (c.state === "running") n++;
    return n;
  }

  #meta() {
    return { intervalMs: this.#intervalMs, version: this.#opts.version };
  }

  async #saved(id: string): Promise<CaptureSummary | undefined> {
    if (!isCaptureId(id) || !(await this.#store.ids()).includes(id)) return undefined;
    return this.#index.get(id);
  }

  #tick(): void {
    const now = Date.now();
    const save = now - this.#lastSave >= this.#saveEveryMs;
    if (save) this.#lastSave = now;
    for (const capture of [...this.#live.values()]) {
      if (capture.state !== "running") continue;
      const snap = this.#opts.rooms.snapshot(capture.room);
      if (!snap) {
        void this.#finish(capture, "room-closed");
        continue;
      }
      const { sample, events } = capture.sampler.sample(snap);
      if (!capture.add(sample, events)) {
        void this.#finish(capture, "size-limit");
        continue;
      }
      // Half an interval early: timer drift must not add a sample past the duration asked for.
      if (sample.t >= capture.maxSeconds * 1000 - this.#intervalMs / 2) void this.#finish(capture, "max-duration");
      else if (save && capture.dirty) void this.#save(capture);
    }
  }

  #onRoom(e: CaptureRoomEvent): void {
    for (const capture of this.#live.values()) {
      if (capture.room !== e.room || capture.state !== "running") continue;
      if (e.type === "room-closed") {
        void this.#finish(capture, "room-closed");
        continue;
      }
      if (e.type !== "session-opened" && e.type !== "session-closed") continue;
      const verb = e.type === "session-opened" ? "joined" : "left";
      const event: CaptureEvent = { t: Date.now() - capture.startedAt.getTime(), type: `${e.kind}.${verb}`, session: e.session };
      if (!capture.addEvent(event)) void this.#finish(capture, "size-limit");
    }
  }

  async #finish(capture: Capture, reason: StopReason): Promise<void> {
    if (capture.state === "running") {
      capture.stop(reason, new Date());
      this.#opts.log.info({ capture: capture.id, room: capture.room, reason, samples: capture.sampleCount }, "capture stopped");
    }
    // A capture whose last save failed (a full disk) stays served from memory until the server stops.
    if ((await this.#save(capture)) && this.#live.get(capture.id) === capture) {
      this.#live.delete(capture.id);
      this.#index.set(capture.id, capture.summary());
    }
    if (this.running === 0) this.#stopTimer();
  }

  /** Whether the capture's file now holds what it has. */
  async #save(capture: Capture): Promise<boolean> {
    capture.dirty = false;
    try {
      await this.#store.write(capture.id, capture.toJSON(this.#meta()));
      this.#index.set(capture.id, capture.summary());
      return true;
    } catch (err) {
      capture.dirty = true;
      this.#opts.log.warn({ err, capture: capture.id }, "cannot save capture; it stays in memory, and a running one is saved again later");
      return false;
    }
  }

  #stopTimer(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

function summaryOf(f: CaptureSummary & Record<string, unknown>): CaptureSummary {
  const samples = Array.isArray(f["samples"]) ? (f["samples"] as unknown[]).length : 0;
  return {
    id: f.id,
    room: f.room,
    startedAt: f.startedAt,
    stoppedAt: f.stoppedAt,
    state: f.state,
    stopReason: f.stopReason,
    maxSeconds: f.maxSeconds,
    sampleCount: samples,
  };
}
