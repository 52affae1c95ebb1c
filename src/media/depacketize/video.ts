// RTP packets in, whole decodable video frames out. Pure: no clock, no I/O. Packets are put back in order over a
// small window; a frame with a missing packet is dropped rather than written corrupt, and from then on only a key
// frame resumes the file, so every written frame decodes. Key frame requests come out as outputs; the adapter sends
// them to the publisher.
import { ReorderBuffer, type Ordered } from "../rtp/reorder.ts";
import { TimestampUnwrapper, type RtpLike } from "../rtp/packet.ts";
import type { AssembledFrame, VideoPayloadFormat } from "./format.ts";

export type DropReason = "incomplete" | "keyframe_wait" | "malformed";

interface VideoFrame extends AssembledFrame {
  /** RTP timestamp, unwrapped, and shifted only across a stream restart, so frame spacing is kept exactly. */
  timestamp: number;
}

export type VideoOutput =
  | { type: "frame"; frame: VideoFrame }
  | { type: "dropped"; reason: DropReason; timestamp: number }
  | { type: "keyframe_request" };

export interface VideoDepacketizerOptions {
  clockRate: number;
  /** Packets held back waiting for a late one. */
  reorderWindow?: number;
  /** While waiting for a key frame, ask again after this much RTP time (clock units). Default: one second. */
  keyframeRetry?: number;
}

export interface VideoDepacketizerStats {
  frames: number;
  keyframes: number;
  /** Sequence numbers that never arrived (within the reorder window). */
  lostPackets: number;
  dropped: Record<DropReason, number>;
}

interface OpenFrame {
  timestamp: number;
  payloads: Uint8Array[];
  /** A packet of this frame is known missing. */
  broken: boolean;
  /** Its first packet was not a frame start. */
  headless: boolean;
}

export class VideoDepacketizer<P extends RtpLike = RtpLike> {
  readonly stats: VideoDepacketizerStats = {
    frames: 0,
    keyframes: 0,
    lostPackets: 0,
    dropped: { incomplete: 0, keyframe_wait: 0, malformed: 0 },
  };
  readonly #format: VideoPayloadFormat;
  readonly #reorder: ReorderBuffer<P>;
  readonly #unwrap = new TimestampUnwrapper();
  readonly #retry: number;
  readonly #clockRate: number;
  #lastSeq: number | undefined;
  #open: OpenFrame | undefined;
  /** The next frame may have lost its first packets. */
  #lossPending = false;
  #waitingKeyframe = true;
  #lastRequestAt: number | undefined;
  /** Added to unwrapped timestamps so the timeline continues across a stream restart. */
  #offset = 0;
  #lastOut: number | undefined;
  #lastStep = 0;
  #everEmitted = false;

  constructor(format: VideoPayloadFormat, opts: VideoDepacketizerOptions) {
    this.#format = format;
    this.#clockRate = opts.clockRate;
    this.#reorder = new ReorderBuffer<P>(opts.reorderWindow ?? 64);
    this.#retry = opts.keyframeRetry ?? opts.clockRate;
  }

  get reorderStats() {
    return this.#reorder.stats;
  }

  get waitingForKeyframe(): boolean {
    return this.#waitingKeyframe;
  }

  processInput(packet: P): VideoOutput[] {
    const out: VideoOutput[] = [];
    for (const o of this.#reorder.processInput(packet)) this.#onOrdered(o, out);
    return out;
  }

  /** End of stream: releases held packets; a frame still open is dropped. */
  flush(): VideoOutput[] {
    const out: VideoOutput[] = [];
    for (const o of this.#reorder.flush()) this.#onOrdered(o, out);
    const open = this.#open;
    if (open) {
      this.#open = undefined;
      this.#drop(this.#reasonFor(open), open.timestamp, out, false);
    }
    return out;
  }

  /** Skips ahead to the next key frame (the adapter calls this when it had to drop a frame it could not write). */
  requireKeyframe(): void {
    this.#waitingKeyframe = true;
    this.#lastRequestAt = undefined;
  }

  /** Where a raw RTP timestamp falls on the output timeline (for RTCP sender reports); undefined before any packet. */
  projectTimestamp(raw: number): number | undefined {
    const u = this.#unwrap.project(raw);
    return u === undefined ? undefined : u + this.#offset;
  }

  #onOrdered({ packet, seq, discontinuity }: Ordered<P>, out: VideoOutput[]): void {
    if (discontinuity) {
      this.#unwrap.reset();
      this.#lossPending = true;
    }
    if (this.#lastSeq !== undefined && seq !== this.#lastSeq + 1 && !discontinuity) {
      this.stats.lostPackets += seq - this.#lastSeq - 1;
      this.#lossPending = true;
    }
    this.#lastSeq = seq;
    const payload = packet.payload;
    let timestamp = this.#unwrap.unwrap(packet.header.timestamp);
    if (discontinuity && this.#lastOut !== undefined) {
      // A new stream's timestamps start anywhere: continue one frame interval after the last frame.
      this.#offset = this.#lastOut + Math.max(1, this.#lastStep) - timestamp;
    }
    timestamp += this.#offset;
    // Padding-only packets keep the sequence continuous and carry nothing.
    if (payload.length === 0) return;

    let open = this.#open;
    if (open && open.timestamp !== timestamp) {
      // The frame ended without a marker. It is whole only if nothing went missing and this packet starts the next.
      this.#open = undefined;
      if (!open.broken && !open.headless && !this.#lossPending && this.#format.isFrameStart(payload)) {
        this.#finish(open, out);
      } else {
        this.#drop(this.#reasonFor(open), open.timestamp, out, true);
      }
      open = undefined;
    }
    if (this.#waitingKeyframe && this.#shouldRequest(timestamp)) {
      this.#lastRequestAt = timestamp;
      out.push({ type: "keyframe_request" });
    }
    if (!open) {
      const headless = !this.#format.isFrameStart(payload);
      // Loss before a frame's first packet: it may have held whole frames this one refers to, so only a key frame
      // may follow; if this packet is no frame start, the loss took this frame's head as well.
      if (this.#lossPending && !this.#waitingKeyframe) this.#startWaiting(timestamp, out);
      open = { timestamp, payloads: [], broken: this.#lossPending && headless, headless };
      this.#lossPending = false;
      this.#open = open;
    } else if (this.#lossPending) {
      open.broken = true;
      this.#lossPending = false;
    }
    open.payloads.push(payload);
    if (packet.header.marker) {
      this.#open = undefined;
      this.#finish(open, out);
    }
  }

  /** A recording that joins mid-frame has lost nothing yet: that first partial frame is part of waiting to start. */
  #reasonFor(open: OpenFrame): DropReason {
    return !open.broken && open.headless && !this.#everEmitted ? "keyframe_wait" : "incomplete";
  }

  #shouldRequest(timestamp: number): boolean {
    return this.#lastRequestAt === undefined || timestamp - this.#lastRequestAt >= this.#retry || timestamp < this.#lastRequestAt;
  }

  #finish(open: OpenFrame, out: VideoOutput[]): void {
    if (open.broken || open.headless) {
      this.#drop(this.#reasonFor(open), open.timestamp, out, true);
      return;
    }
    let frame: AssembledFrame | undefined;
    try {
      frame = this.#format.assemble(open.payloads);
    } catch {
      frame = undefined;
    }
    if (!frame) {
      this.#drop("malformed", open.timestamp, out, true);
      return;
    }
    if (this.#waitingKeyframe && !frame.keyframe) {
      this.#drop("keyframe_wait", open.timestamp, out, false);
      return;
    }
    this.#waitingKeyframe = false;
    let timestamp = open.timestamp;
    if (this.#lastOut !== undefined) {
      // Files need increasing timestamps; a sender whose clock steps back gets the smallest step forward.
      if (timestamp <= this.#lastOut) timestamp = this.#lastOut + 1;
      this.#lastStep = timestamp - this.#lastOut;
    }
    this.#lastOut = timestamp;
    this.#everEmitted = true;
    this.stats.frames++;
    if (frame.keyframe) this.stats.keyframes++;
    out.push({ type: "frame", frame: { ...frame, timestamp } });
  }

  #drop(reason: DropReason, timestamp: number, out: VideoOutput[], needKeyframe: boolean): void {
    this.stats.dropped[reason]++;
    out.push({ type: "dropped", reason, timestamp });
    if (needKeyframe && !this.#waitingKeyframe) this.#startWaiting(timestamp, out);
  }

  #startWaiting(timestamp: number, out: VideoOutput[]): void {
    this.#waitingKeyframe = true;
    this.#lastRequestAt = timestamp;
    out.push({ type: "keyframe_request" });
  }

  get clockRate(): number {
    return this.#clockRate;
  }
}
