// One capture of one room: its meta, and its samples and events kept as the JSON text they are saved as, so that
// saving every few seconds joins strings instead of serializing the whole capture again, and the size of the file
// is known before it is written.
import { CaptureSampler } from "./sampler.ts";
import type { CaptureEvent, CaptureSample, CaptureStarted, CaptureState, CaptureSummary, StopReason } from "../api.ts";

/** What the meta and the JSON's punctuation may take, beyond samples and events, counted against the size limit. */
const HEAD_BYTES = 1024;

export class Capture {
  readonly id: string;
  readonly room: string;
  readonly startedAt: Date;
  readonly maxSeconds: number;
  readonly sampler: CaptureSampler;
  state: CaptureState = "running";
  stoppedAt: Date | null = null;
  stopReason: StopReason | null = null;
  /** Changed since it was last saved. */
  dirty = true;

  readonly #maxBytes: number;
  readonly #samples: string[] = [];
  readonly #events: string[] = [];
  #bytes = HEAD_BYTES;

  constructor(id: string, room: string, startedAt: Date, maxSeconds: number, maxBytes: number) {
    this.id = id;
    this.room = room;
    this.startedAt = startedAt;
    this.maxSeconds = maxSeconds;
    this.#maxBytes = maxBytes;
    this.sampler = new CaptureSampler(startedAt.getTime());
  }

  get sampleCount(): number {
    return this.#samples.length;
  }

  /** The file's size as it would be saved now (ASCII JSON: one byte a character). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Adds what a tick measured; false, and nothing added, when the file would outgrow its limit. */
  add(sample: CaptureSample, events: readonly CaptureEvent[]): boolean {
    const texts = [JSON.stringify(sample), ...events.map((e) => JSON.stringify(e))];
    const more = texts.reduce((n, s) => n + Buffer.byteLength(s) + 1, 0);
    if (this.#bytes + more > this.#maxBytes) return false;
    this.#samples.push(texts[0] as string);
    for (let i = 1; i < texts.length; i++) this.#events.push(texts[i] as string);
    this.#bytes += more;
    this.dirty = true;
    return true;
  }

  /** A timeline event between samples (a session joined or left); false when the file is full. */
  addEvent(event: CaptureEvent): boolean {
    const text = JSON.stringify(event);
    const more = Buffer.byteLength(text) + 1;
    if (this.#bytes + more > this.#maxBytes) return false;
    this.#events.push(text);
    this.#bytes += more;
    this.dirty = true;
    return true;
  }

  stop(reason: StopReason, at: Date): void {
    if (this.state !== "running") return;
    this.state = "stopped";
    this.stopReason = reason;
    this.stoppedAt = at;
    this.dirty = true;
  }

  summary(): CaptureSummary {
    return {
      id: this.id,
      room: this.room,
      startedAt: this.startedAt.toISOString(),
      stoppedAt: this.stoppedAt?.toISOString() ?? null,
      state: this.state,
      stopReason: this.stopReason,
      maxSeconds: this.maxSeconds,
      sampleCount: this.#samples.length,
    };
  }

  started(): CaptureStarted {
    return { id: this.id, room: this.room, startedAt: this.startedAt.toISOString(), state: this.state, maxSeconds: this.maxSeconds };
  }

  /** The whole capture as its file holds it (types.ts CaptureFile). */
  toJSON(meta: { intervalMs: number; version: string }): string {
    const head = JSON.stringify({ ...this.summary(), intervalMs: meta.intervalMs, version: meta.version });
    return `${head.slice(0, -1)},"samples":[${this.#samples.join(",")}],"events":[${this.#events.join(",")}]}`;
  }
}
