// Records one published track to one file: the thin adapter around the pure pipeline
// (reorder → depacketize → container writer) and a FileSink. It runs inside the track's forward(), so it never
// throws, never awaits, and gives up on its own file (log line, metric) at the first I/O error.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { Counter } from "prom-client";
import type { Logger } from "../../log.ts";
import type { Metrics } from "../../metrics/metrics.ts";
import { AnnexBWriter, type FrameIndex } from "../container/annexb.ts";
import { IvfWriter, type IvfFourcc } from "../container/ivf.ts";
import { OggOpusWriter } from "../container/ogg.ts";
import type { WriteOp } from "../container/ops.ts";
import { Av1Format } from "../depacketize/av1.ts";
import type { VideoPayloadFormat } from "../depacketize/format.ts";
import { H264Format } from "../depacketize/h264.ts";
import { H265Format, h265ParameterSetsFromFmtp } from "../depacketize/h265.ts";
import { OpusDepacketizer, type AudioPacket } from "../depacketize/opus.ts";
import { VideoDepacketizer, type VideoOutput } from "../depacketize/video.ts";
import { Vp8Format } from "../depacketize/vp8.ts";
import { Vp9Format } from "../depacketize/vp9.ts";
import type { RtpLike } from "../rtp/packet.ts";
import { FileSink } from "./fileSink.ts";
import type { TrackExt } from "./names.ts";
import type { RecordProgress } from "./store.ts";

/** What the recorder needs from a published track (PublishedTrack has it). */
export interface RecordableTrack {
  readonly kind: "audio" | "video";
  readonly index: number;
  readonly codec: { readonly mimeType: string; readonly clockRate: number; readonly fmtp: string };
  readonly senderReport: { readonly ntpTime: bigint; readonly rtpTimestamp: number; readonly receivedAt: number } | undefined;
  addTap(tap: (rtp: RtpLike) => void): () => void;
  requestKeyframe(): boolean;
}

/** Where the file's first sample sits in time, for lining tracks up in the remux. */
interface TrackTiming {
  clockRate: number;
  /** Our wall clock (ms) at the first sample, estimated from arrival times. */
  arrivalWallMs: number;
  /** The sender's wall clock (ms, from RTCP sender reports) at the first sample, when a report came. */
  senderWallMs: number | undefined;
  /**
   * Sender clock minus ours at each report's arrival, over the first minute. A sound sender keeps it steady (network
   * jitter only); a spread shows its NTP timestamps cannot be trusted (werift's lose their fraction).
   */
  senderSkewMs: { min: number; max: number; count: number } | undefined;
}

export interface TrackResult {
  name: string;
  path: string;
  kind: "audio" | "video";
  ext: TrackExt;
  /** Video frames or audio packets in the file. */
  frames: number;
  bytes: number;
  /** Error code when the recording stopped early (its file is still valid up to there). */
  error: string | undefined;
  timing: TrackTiming | undefined;
  /** H264 only: where each access unit is and when, for the remux. */
  index: FrameIndex | undefined;
  /** From the first written sample's timestamp to the last one's; undefined when nothing was written. */
  durationSec?: number | undefined;
}

export interface TrackRecorderOptions {
  dir: string;
  name: string;
  log: Logger;
  metrics: Metrics;
  /** Told when the file starts and stops being written. */
  /** `progress` tells the recordings index the file's size and last write without a stat. */
  onActive(name: string, active: boolean, progress?: () => RecordProgress): void;
  /** Frames waiting for the disk above this many bytes are dropped (and video waits for a key frame). */
  maxBacklogBytes?: number;
  now?: () => number;
}

type Pipeline =
  | { kind: "video"; ext: "ivf" | "h264" | "h265"; depacketizer: VideoDepacketizer<RtpLike>; ivf?: IvfWriter; annexb?: AnnexBWriter }
  | { kind: "audio"; ext: "ogg"; depacketizer: OpusDepacketizer<RtpLike>; ogg: OggOpusWriter };

const IVF: Record<string, { fourcc: IvfFourcc; format: () => VideoPayloadFormat }> = {
  vp8: { fourcc: "VP80", format: () => new Vp8Format() },
  vp9: { fourcc: "VP90", format: () => new Vp9Format() },
  av1: { fourcc: "AV01", format: () => new Av1Format() },
};

/** The file extension a codec is recorded to, or undefined when roomcast does not record it. */
export function recordExtension(mimeType: string): TrackExt | undefined {
  const name = (mimeType.split("/")[1] ?? "").toLowerCase();
  if (name in IVF) return "ivf";
  if (name === "h264") return "h264";
  if (name === "h265") return "h265";
  if (name === "opus") return "ogg";
  return undefined;
}

function createPipeline(track: RecordableTrack): Pipeline | undefined {
  const name = (track.codec.mimeType.split("/")[1] ?? "").toLowerCase();
  const ivf = IVF[name];
  if (ivf) {
    const depacketizer = new VideoDepacketizer<RtpLike>(ivf.format(), { clockRate: track.codec.clockRate });
    return { kind: "video", ext: "ivf", depacketizer, ivf: new IvfWriter({ fourcc: ivf.fourcc, timebase: track.codec.clockRate }) };
  }
  if (name === "h264") {
    const depacketizer = new VideoDepacketizer<RtpLike>(new H264Format(), { clockRate: track.codec.clockRate });
    return { kind: "video", ext: "h264", depacketizer, annexb: new AnnexBWriter() };
  }
  if (name === "h265") {
    // Parameter sets from the offer's fmtp, so a stream whose first IRAP lacks them still starts the file.
    const format = new H265Format(h265ParameterSetsFromFmtp(track.codec.fmtp));
    const depacketizer = new VideoDepacketizer<RtpLike>(format, { clockRate: track.codec.clockRate });
    return { kind: "video", ext: "h265", depacketizer, annexb: new AnnexBWriter() };
  }
  if (name === "opus") {
    const stereo = /(?:^|;)\s*stereo=1\s*(?:;|$)/.test(track.codec.fmtp);
    return {
      kind: "audio",
      ext: "ogg",
      depacketizer: new OpusDepacketizer<RtpLike>(),
      ogg: new OggOpusWriter({ serial: randomBytes(4).readUInt32LE(0), channels: stereo ? 2 : undefined }),
    };
  }
  return undefined;
}

/** NTP (seconds since 1900, 32.32 fixed point) to Unix milliseconds. */
export function ntpToUnixMs(ntp: bigint): number {
  const seconds = Number(ntp >> 32n);
  const fraction = Number(ntp & 0xffffffffn);
  return (seconds - 2208988800) * 1000 + (fraction * 1000) / 2 ** 32;
}

/** Arrival times of the first seconds are enough to place the start; later ones would add clock drift. */
const ARRIVAL_ESTIMATE_MS = 10_000;

type State = "waiting" | "recording" | "failed" | "closed";

export class TrackRecorder {
  readonly name: string;
  readonly path: string;
  readonly kind: "audio" | "video";
  readonly ext: TrackExt;
  #state: State = "waiting";
  readonly #track: RecordableTrack;
  readonly #pipeline: Pipeline;
  readonly #opts: TrackRecorderOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #maxBacklog: number;
  readonly #frames: Counter.Internal;
  #sink: FileSink | undefined;
  #removeTap: (() => void) | undefined;
  #error: string | undefined;
  #closing: Promise<TrackResult> | undefined;
  // Timing of the first written sample.
  #firstTimestamp: number | undefined;
  #lastTimestamp = 0;
  #firstArrival = 0;
  #arrivalWall = Infinity;
  #lastReport: RecordableTrack["senderReport"];
  #senderWall: number | undefined;
  #skew: { min: number; max: number; count: number } | undefined;

  /** Throws when the codec is not recordable; check recordExtension() first. */
  constructor(track: RecordableTrack, opts: TrackRecorderOptions) {
    const pipeline = createPipeline(track);
    if (!pipeline) throw new Error(`${track.codec.mimeType} is not recordable`);
    this.#track = track;
    this.#pipeline = pipeline;
    this.#opts = opts;
    this.name = opts.name;
    this.path = join(opts.dir, opts.name);
    this.kind = track.kind;
    this.ext = pipeline.ext;
    this.#log = opts.log.child({ file: opts.name });
    this.#now = opts.now ?? Date.now;
    this.#maxBacklog = opts.maxBacklogBytes ?? 16 * 1024 * 1024;
    this.#frames = opts.metrics.recordFrames.labels(track.kind);
  }

  get state(): State {
    return this.#state;
  }

  /** Starts listening to the track; the file is created with the first frame worth writing. */
  start(): void {
    if (this.#state !== "waiting" || this.#removeTap) return;
    this.#removeTap = this.#track.addTap(this.#onRtp);
  }

  readonly #onRtp = (rtp: RtpLike): void => {
    if (this.#state !== "waiting" && this.#state !== "recording") return;
    try {
      const now = this.#now();
      const p = this.#pipeline;
      if (p.kind === "video") {
        for (const o of p.depacketizer.processInput(rtp)) this.#onVideo(p, o, now);
      } else {
        for (const a of p.depacketizer.processInput(rtp)) this.#onAudio(p, a, now);
      }
      const report = this.#track.senderReport;
      if (report !== this.#lastReport) this.#onSenderReport(report, now);
    } catch (err) {
      // A bug here must cost this recording only, never the forwarding that called us.
      this.#fail("EINTERNAL", err);
    }
  };

  #onVideo(p: Extract<Pipeline, { kind: "video" }>, o: VideoOutput, now: number): void {
    switch (o.type) {
      case "keyframe_request":
        this.#track.requestKeyframe();
        return;
      case "dropped":
        this.#opts.metrics.recordFramesDropped.labels(o.reason).inc();
        return;
      case "frame": {
        if (this.#sink && this.#sink.backlog > this.#maxBacklog) {
          this.#opts.metrics.recordFramesDropped.labels("backlog").inc();
          p.depacketizer.requireKeyframe();
          return;
        }
        const f = o.frame;
        this.#noteTiming(f.timestamp, p.depacketizer.clockRate, now);
        this.#write(p.ivf ? p.ivf.processInput(f) : (p.annexb as AnnexBWriter).processInput(f));
        this.#frames.inc();
        return;
      }
    }
  }

  #onAudio(p: Extract<Pipeline, { kind: "audio" }>, a: AudioPacket, now: number): void {
    if (this.#sink && this.#sink.backlog > this.#maxBacklog) {
      // The gap is filled with concealment when writing resumes, so the timeline stays right.
      this.#opts.metrics.recordFramesDropped.labels("backlog").inc();
      return;
    }
    this.#noteTiming(a.timestamp, 48000, now);
    this.#write(p.ogg.processInput(a, now));
    this.#frames.inc();
  }

  #noteTiming(timestamp: number, clockRate: number, now: number): void {
    this.#lastTimestamp = timestamp;
    if (this.#firstTimestamp === undefined) {
      this.#firstTimestamp = timestamp;
      this.#firstArrival = now;
    }
    if (now - this.#firstArrival <= ARRIVAL_ESTIMATE_MS) {
      // Each sample says "the first one was at most this long ago"; the earliest claim has the least delay in it.
      const estimate = now - ((timestamp - this.#firstTimestamp) * 1000) / clockRate;
      if (estimate < this.#arrivalWall) this.#arrivalWall = estimate;
    }
  }

  #onSenderReport(report: RecordableTrack["senderReport"], now: number): void {
    // Reports before the first written sample wait: the next packet looks again.
    if (!report || this.#firstTimestamp === undefined) return;
    const ts = this.#pipeline.depacketizer.projectTimestamp(report.rtpTimestamp);
    if (ts === undefined) return;
    this.#lastReport = report;
    const ntpMs = ntpToUnixMs(report.ntpTime);
    if (this.#senderWall === undefined) {
      const clockRate = this.#pipeline.kind === "audio" ? 48000 : this.#pipeline.depacketizer.clockRate;
      this.#senderWall = ntpMs + ((this.#firstTimestamp - ts) * 1000) / clockRate;
    }
    // Within the first minute clock drift stays far below what the check looks for.
    if (now - this.#firstArrival <= 60_000) {
      const skew = ntpMs - report.receivedAt;
      const k = this.#skew;
      this.#skew = k ? { min: Math.min(k.min, skew), max: Math.max(k.max, skew), count: k.count + 1 } : { min: skew, max: skew, count: 1 };
    }
  }

  #write(ops: WriteOp[]): void {
    if (ops.length === 0) return;
    if (!this.#sink) {
      this.#state = "recording";
      let lastWrite = Date.now();
      this.#opts.onActive(this.name, true, () => ({ size: this.#sink?.size ?? 0, mtimeMs: lastWrite }));
      this.#opts.metrics.recordingsActive.inc();
      const bytes = this.#opts.metrics.recordBytes;
      this.#sink = new FileSink(this.path, {
        onError: (err) => this.#fail(err.code ?? "EIO", err),
        onWritten: (n) => {
          bytes.inc(n);
          lastWrite = Date.now();
        },
      });
      this.#log.info({ codec: this.#track.codec.mimeType }, "recording started");
    }
    this.#sink.write(ops);
  }

  #fail(code: string, err: unknown): void {
    if (this.#state === "failed" || this.#state === "closed") return;
    const wasRecording = this.#sink !== undefined;
    this.#state = "failed";
    this.#error = code;
    this.#removeTap?.();
    this.#removeTap = undefined;
    this.#opts.metrics.recordErrors.labels(code).inc();
    const message = err instanceof Error ? err.message : String(err);
    this.#log.error(
      { code, err: message, path: this.path },
      `recording stopped: ${code === "ENOSPC" ? "disk full" : code === "EACCES" || code === "EPERM" ? "permission denied" : message}; forwarding continues`,
    );
    if (wasRecording) {
      this.#opts.metrics.recordingsActive.dec();
      this.#opts.onActive(this.name, false);
    }
    void this.#sink?.close();
  }

  /** Stops listening, writes what the pipeline still holds, closes the file. Resolves once the file is final. */
  close(): Promise<TrackResult> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<TrackResult> {
    this.#removeTap?.();
    this.#removeTap = undefined;
    const p = this.#pipeline;
    if (this.#state === "waiting" || this.#state === "recording") {
      try {
        const now = this.#now();
        if (p.kind === "video") for (const o of p.depacketizer.flush()) this.#onVideo(p, o, now);
        else {
          for (const a of p.depacketizer.flush()) this.#onAudio(p, a, now);
          if (this.#sink) this.#write(p.ogg.finish());
        }
      } catch (err) {
        this.#fail("EINTERNAL", err);
      }
    }
    await this.#sink?.close();
    const wasRecording = this.#state === "recording";
    if (this.#state !== "failed") this.#state = "closed";
    if (wasRecording) {
      this.#opts.metrics.recordingsActive.dec();
      this.#opts.onActive(this.name, false);
    }
    const frames = p.kind === "video" ? (p.ivf?.frames ?? p.annexb?.frames ?? 0) : p.ogg.packets + p.ogg.filled;
    const bytes = this.#sink?.size ?? 0;
    const stats = p.kind === "video" ? p.depacketizer.stats : p.depacketizer.stats;
    if (this.#sink) this.#log.info({ frames, bytes, error: this.#error, stats, reorder: p.depacketizer.reorderStats }, "recording finished");
    return {
      name: this.name,
      path: this.path,
      kind: this.kind,
      ext: this.ext,
      frames,
      bytes,
      error: this.#error,
      timing:
        this.#firstTimestamp === undefined
          ? undefined
          : {
              clockRate: p.kind === "audio" ? 48000 : p.depacketizer.clockRate,
              arrivalWallMs: this.#arrivalWall,
              senderWallMs: this.#senderWall,
              senderSkewMs: this.#skew,
            },
      index: p.kind === "video" ? p.annexb?.index : undefined,
      durationSec:
        this.#firstTimestamp === undefined
          ? undefined
          : Math.round(((this.#lastTimestamp - this.#firstTimestamp) * 1000) / (p.kind === "audio" ? 48000 : p.depacketizer.clockRate)) / 1000,
    };
  }
}
