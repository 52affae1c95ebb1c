// One room's transcoder: one supervised ffmpeg that turns the publisher's video into the ladder's renditions, each
// an output of the source (the room makes each a layer of its track, next to the untouched source). Supervised like mediasoup's Worker, as a state machine:
//
//   waiting ──(source keyframe, size known)──▶ starting ──(RTP from every rendition)──▶ running
//      │                                        │  ▲                                       │
//      │                         died before ready │ └──────── restarting ◀── died / stalled ┘
//      │                                        ▼       (backoff; keyframe asked for on each start)
//      └──▶ off (nothing to do: no backend, source below the ladder)   failed (never ready, gave up)
//
// and closed, on purpose, from any state. Audio is never touched: it stays on the source track.
import type { RtpPacket } from "werift";
import type { FfmpegBinary } from "../ffmpeg.ts";
import type { Logger } from "../../log.ts";
import type { Metrics } from "../../metrics/metrics.ts";
import { isKeyframeStart, keyframeCodec, type KeyframeCodec } from "../codec/keyframe.ts";
import { fmtpParams } from "../../rtc/sdp.ts";
import { buildTranscodeArgs, ENCODER_NAME, type EncoderChoice, type SourceCodec } from "./encoderArgs.ts";
import { FfmpegProcess } from "./ffmpegProcess.ts";
import { fitLadder, formatLadder, type Ladder, type Rendition } from "./ladder.ts";
import { freeUdpPortPair, RtpInput, RtpOutput } from "./rtpIngest.ts";
import { H264ParameterSets, parseVp8KeyframeSize, type PictureSize } from "./sourceFormat.ts";
import type { RenditionOutput, TranscodeSource } from "./source.ts";
import { isErrorLevel, type StderrEvent } from "./stderr.ts";

export type TranscoderState = "waiting" | "starting" | "running" | "restarting" | "failed" | "off" | "closed";

/** A room's transcoding as GET /api/rooms/{room} shows it (src/api.ts). */
export interface TranscodeDetails {
  state: TranscoderState;
  reason: string | null;
  ladder: string;
  encoder: string | null;
  decode: string | null;
  scale: string | null;
  source: { codec: SourceCodec; width: number; height: number; fps: number } | null;
  ffmpegInput: { codec: string; width: number; height: number } | null;
  pid: number | null;
  restarts: number;
  uptimeSec: number;
  progress: { frame: number; fps: number; speed: number | undefined } | null;
  errors: number;
  lastError: string | null;
  renditions: { name: string; width: number; height: number; targetBitrate: number; bitrate: number; fps: number; packets: number; viewers: number }[];
}

export interface TranscodeBackend {
  ffmpeg: FfmpegBinary;
  encoder: EncoderChoice;
  /** libx264 preset (benchmarks); veryfast otherwise. */
  x264Preset?: string;
}

export interface TranscoderOptions {
  room: string;
  source: TranscodeSource;
  codec: SourceCodec;
  ladder: Ladder;
  /** The backend for this codec once the service knows it, or the reason there is none. */
  backend(codec: SourceCodec): Promise<TranscodeBackend | string>;
  metrics: Metrics;
  log: Logger;
  onClosed?(t: Transcoder): void;
  /** The transcoder gave up (state "failed"): the room goes on with its source layer only. */
  onFailed?(t: Transcoder, reason: string): void;
  /** First restart delay (BACKOFF_MIN_MS); tests shorten it. */
  backoffMinMs?: number;
}

/** First restart delay; doubled on each failure in a row, up to BACKOFF_MAX_MS. */
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15_000;
/** A process that never became ready this many times in a row is not started again. */
export const MAX_FAILURES_BEFORE_READY = 5;
/** A run this long resets the backoff. */
const STABLE_MS = 30_000;
/** Input flowing but no rendition packet for this long: ffmpeg is stuck, and is restarted. */
const STALL_MS = 8_000;
const READY_TIMEOUT_MS = 20_000;
/** Keyframe requests to the publisher while a new ffmpeg waits for one to start decoding. */
export const FIRST_KEYFRAME_REQUEST_MS = 250;
const KEYFRAME_RETRY_MS = 1000;
/** ffmpeg error lines logged per process before they are only counted (decoders complain a lot on a lossy start). */
const LOGGED_ERRORS_PER_RUN = 5;

interface Output {
  rendition: Rendition;
  output: RenditionOutput;
  input: RtpInput;
  /** Set when this rendition has sent RTP since the current process started: the ready handshake. */
  seenThisRun: boolean;
  framesAtTick: number;
  fps: number;
}

function randomSsrc(): number {
  return (Math.floor(Math.random() * 0xfffffff0) + 1) >>> 0;
}

export class Transcoder {
  readonly room: string;
  readonly codec: SourceCodec;
  readonly ladder: Ladder;
  restarts = 0;
  errors = 0;
  lastError: string | undefined;

  #state: TranscoderState = "waiting";
  #reason: string | undefined;
  #closed = false;
  readonly #opts: TranscoderOptions;
  readonly #source: TranscodeSource;
  readonly #keyframes: KeyframeCodec | undefined;
  readonly #log: Logger;
  readonly #untap: () => void;
  readonly #params = new H264ParameterSets();
  #size: PictureSize | undefined;
  #ffmpegInput: { codec: string; width: number; height: number } | undefined;
  #backend: TranscodeBackend | undefined;
  #outputs: Output[] = [];
  #sender: RtpOutput | undefined;
  #inputPort: number | undefined;
  #proc: FfmpegProcess | undefined;
  #startedAt = 0;
  #readyAt = 0;
  #killReason: string | undefined;
  #failuresBeforeReady = 0;
  #crashesInARow = 0;
  #errorsThisRun = 0;
  #recentErrors: string[] = [];
  #progress: { frame: number; fps: number; speed: number | undefined } | undefined;
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  #keyframeTimer: ReturnType<typeof setTimeout> | undefined;
  #lastInputAt = 0;
  /** Source frame rate from RTP timestamps while waiting: -g and the H264 level are sized by it. */
  #fpsProbe = { firstTs: -1, lastTs: -1, frames: 0 };
  #fps = 30;

  constructor(opts: TranscoderOptions) {
    this.#opts = opts;
    this.room = opts.room;
    this.codec = opts.codec;
    this.ladder = opts.ladder;
    this.#source = opts.source;
    this.#keyframes = keyframeCodec(opts.source.codec.mimeType);
    this.#log = opts.log.child({ transcoder: true });
    // Parameter sets the publisher put in its offer count until the stream sends its own (most send them in-band).
    for (const set of (fmtpParams(opts.source.codec.fmtp).get("sprop-parameter-sets") ?? "").split(",")) {
      if (set !== "" && opts.codec === "h264") this.#params.push(Buffer.from(set, "base64"));
    }
    this.#untap = this.#source.addTap((rtp) => this.#onSourcePacket(rtp));
  }

  get state(): TranscoderState {
    return this.#state;
  }

  /** Why the transcoder is off or failed. */
  get reason(): string | undefined {
    return this.#reason;
  }

  get renditions(): readonly Rendition[] {
    return this.#outputs.map((o) => o.rendition);
  }

  get pid(): number | undefined {
    return this.#proc?.exited === false ? this.#proc.ffmpegPid : undefined;
  }

  // ---- source side -------------------------------------------------------------------------------------------

  #onSourcePacket(rtp: RtpPacket): void {
    this.#lastInputAt = Date.now();
    const payload = rtp.payload;
    if (this.codec === "h264" && this.#params.push(payload) && this.#size && this.#params.size) {
      const { width, height } = this.#params.size;
      if (width !== this.#size.width || height !== this.#size.height) {
        // ffmpeg scales whatever it decodes to the renditions' sizes; only the choice of rungs was made for the old size.
        this.#log.warn({ from: this.#size, to: { width, height } }, "source picture size changed; renditions keep their sizes");
        this.#size = { width, height };
      }
    }
    if (this.#state === "waiting") {
      this.#measureFps(rtp.header.timestamp);
      if (this.#keyframes === undefined || !isKeyframeStart(this.#keyframes, payload)) return;
      const size = this.codec === "h264" ? this.#params.size : parseVp8KeyframeSize(payload);
      if (size) void this.#begin({ width: size.width, height: size.height });
      return;
    }
    const port = this.#inputPort;
    if (port !== undefined && this.#proc && !this.#proc.exited) this.#sender?.send(rtp, port);
  }

  #measureFps(ts: number): void {
    const p = this.#fpsProbe;
    if (ts === p.lastTs) return;
    if (p.firstTs < 0) p.firstTs = ts;
    p.lastTs = ts;
    p.frames++;
    const span = ((ts - p.firstTs) >>> 0) / 90_000;
    if (span >= 0.5 && span < 10) this.#fps = Math.min(120, Math.max(5, Math.round((p.frames - 1) / span)));
  }

  /** The source's size is known: fit the ladder, make the layers, start ffmpeg. */
  async #begin(size: PictureSize): Promise<void> {
    this.#state = "starting";
    this.#size = size;
    try {
      const backend = await this.#opts.backend(this.codec);
      if (this.#closed) return;
      if (typeof backend === "string") return this.#off(backend);
      const renditions = fitLadder(this.ladder, size);
      if (renditions.length === 0) {
        return this.#off(`the source is ${size.width}x${size.height}, smaller than every rung of ${formatLadder(this.ladder)}`);
      }
      const above = this.ladder.filter((r) => !renditions.some((x) => x.name === r.name)).map((r) => r.name);
      if (above.length > 0) this.#log.info({ skipped: above, source: size }, "rungs taller than the source are left out");
      this.#backend = backend;
      this.#sender = await RtpOutput.open();
      for (const rendition of renditions) {
        let output: Output | undefined;
        const input = await RtpInput.open(randomSsrc(), (rtp) => {
          if (output) this.#onRenditionPacket(output, rtp);
        });
        if (this.#closed) {
          input.close();
          return this.#release();
        }
        output = { rendition, output: this.#source.addRendition(rendition.name), input, seenThisRun: false, framesAtTick: 0, fps: 0 };
        this.#outputs.push(output);
      }
      if (this.#closed) return this.#release();
      this.#log.info(
        { source: size, fps: this.#fps, encoder: ENCODER_NAME[backend.encoder.kind], nvenc: backend.encoder.nvenc, renditions: renditions.map((r) => `${r.name}=${r.width}x${r.height}@${r.bitrateKbps}k`) },
        "transcoding",
      );
      await this.#spawn();
    } catch (err) {
      if (this.#closed) return;
      this.#log.error({ err }, "transcoder could not start");
      this.#reason = `could not start: ${(err as Error).message}`;
      this.#state = "failed";
      this.#release();
      this.#opts.onFailed?.(this, this.#reason);
    }
  }

  #off(reason: string): void {
    this.#state = "off";
    this.#reason = reason;
    this.#log.info({ reason }, "room not transcoded");
    this.#untap();
  }

  // ---- the process -------------------------------------------------------------------------------------------

  async #spawn(): Promise<void> {
    this.#restartTimer = undefined;
    const backend = this.#backend;
    if (this.#closed || !backend || !this.#size) return;
    let port: number;
    try {
      port = await freeUdpPortPair();
    } catch (err) {
      this.#log.warn({ err }, "no loopback ports for ffmpeg");
      return this.#afterExit("start_failed", false, 0);
    }
    if (this.#closed) return;
    const args = buildTranscodeArgs({
      input: {
        codec: this.codec,
        payloadType: this.#source.codec.payloadType,
        port,
        spropParameterSets: this.#params.spropParameterSets,
      },
      encoder: backend.encoder,
      outputs: this.#outputs.map((o) => ({ ...o.rendition, port: o.input.port })),
      fps: this.#fps,
      ffmpegVersion: backend.ffmpeg.version,
      x264Preset: backend.x264Preset,
    });
    for (const o of this.#outputs) {
      o.input.continuity.newSource();
      o.seenThisRun = false;
    }
    this.#inputPort = port;
    this.#state = "starting";
    this.#startedAt = Date.now();
    this.#progress = undefined;
    this.#errorsThisRun = 0;
    this.#recentErrors = [];
    const encoder = ENCODER_NAME[backend.encoder.kind];
    const proc = FfmpegProcess.spawn(backend.ffmpeg.path, args, {
      onStderr: (events) => this.#onStderr(events),
      onExit: (code, signal) => this.#onExit(proc, code, signal),
    });
    this.#proc = proc;
    this.#opts.metrics.transcodeProcesses.labels(encoder).inc();
    this.#log.info({ pid: proc.pid, inputPort: port, restarts: this.restarts }, "ffmpeg started");
    this.#log.debug({ args: args.join(" ") }, "ffmpeg arguments");
    // A new decoder starts at a keyframe; ask the publisher for one once ffmpeg has had time to bind its port.
    this.#keyframeTimer = setTimeout(() => this.#requestSourceKeyframe(), FIRST_KEYFRAME_REQUEST_MS);
  }

  #requestSourceKeyframe(): void {
    this.#keyframeTimer = undefined;
    if (this.#closed || this.#state !== "starting") return;
    this.#source.requestKeyframe();
    this.#keyframeTimer = setTimeout(() => this.#requestSourceKeyframe(), KEYFRAME_RETRY_MS);
  }

  #onRenditionPacket(output: Output, rtp: RtpPacket): void {
    if (this.#closed) return;
    output.output.forward(rtp);
    if (this.#state !== "starting" || output.seenThisRun) return;
    output.seenThisRun = true;
    if (this.#outputs.every((o) => o.seenThisRun)) this.#onReady();
  }

  /** The ready handshake: every rendition has come back. */
  #onReady(): void {
    this.#state = "running";
    this.#readyAt = Date.now();
    this.#failuresBeforeReady = 0;
    clearTimeout(this.#keyframeTimer);
    this.#keyframeTimer = undefined;
    this.#log.info({ ms: this.#readyAt - this.#startedAt, restarts: this.restarts, pid: this.pid }, "transcoder ready");
  }

  #onStderr(events: StderrEvent[]): void {
    for (const ev of events) {
      if (ev.type === "progress") {
        this.#progress = { frame: ev.frame, fps: ev.fps, speed: ev.speed };
        // ffmpeg prints a last stats line as SIGTERM stops it: by then close() has removed the room's series.
        if (ev.speed !== undefined && !this.#closed) this.#opts.metrics.transcodeSpeed.labels(this.room).set(ev.speed);
      } else if (ev.type === "input") {
        this.#ffmpegInput = { codec: ev.codec, width: ev.width, height: ev.height };
        if (this.#size && (ev.width !== this.#size.width || ev.height !== this.#size.height)) {
          this.#log.info({ ffmpeg: ev, stream: this.#size }, "ffmpeg reads another size than the stream's header said");
        }
      } else if (isErrorLevel(ev.level)) {
        this.errors++;
        this.lastError = ev.text;
        this.#opts.metrics.transcodeErrors.inc();
        this.#recentErrors = [...this.#recentErrors.slice(-4), ev.text];
        if (++this.#errorsThisRun <= LOGGED_ERRORS_PER_RUN) this.#log.warn({ ffmpeg: ev.text }, "ffmpeg error");
      } else if (ev.level === "warning") {
        this.#log.debug({ ffmpeg: ev.text }, "ffmpeg warning");
      }
    }
  }

  #onExit(proc: FfmpegProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#backend) this.#opts.metrics.transcodeProcesses.labels(ENCODER_NAME[this.#backend.encoder.kind]).dec();
    if (proc !== this.#proc) return;
    this.#proc = undefined;
    clearTimeout(this.#keyframeTimer);
    this.#keyframeTimer = undefined;
    if (this.#closed) {
      this.#opts.onClosed?.(this);
      return;
    }
    const wasReady = this.#state === "running";
    const ranMs = Date.now() - this.#startedAt;
    const reason = this.#killReason ?? (wasReady ? "crash" : "start_failed");
    this.#killReason = undefined;
    this.#log.warn({ code, signal, ranMs, reason, lastErrors: this.#recentErrors }, wasReady ? "ffmpeg died" : "ffmpeg died before it was ready");
    this.#afterExit(reason, wasReady, ranMs);
  }

  /** Restart with backoff, or give up after too many processes that never became ready. */
  #afterExit(reason: string, wasReady: boolean, ranMs: number): void {
    if (!wasReady && ++this.#failuresBeforeReady >= MAX_FAILURES_BEFORE_READY) {
      this.#state = "failed";
      this.#reason = `ffmpeg failed ${this.#failuresBeforeReady} times before it was ready${this.lastError ? `: ${this.lastError}` : ""}`;
      this.#log.error({ lastErrors: this.#recentErrors }, `transcoding stopped: ${this.#reason}`);
      this.#opts.onFailed?.(this, this.#reason);
      return;
    }
    this.#crashesInARow = wasReady && ranMs >= STABLE_MS ? 0 : this.#crashesInARow + 1;
    const delay = Math.min(BACKOFF_MAX_MS, (this.#opts.backoffMinMs ?? BACKOFF_MIN_MS) * 2 ** Math.max(0, this.#crashesInARow - 1));
    this.restarts++;
    this.#opts.metrics.transcodeRestarts.labels(reason).inc();
    this.#state = "restarting";
    this.#log.info({ inMs: delay, restarts: this.restarts }, "restarting ffmpeg");
    this.#restartTimer = setTimeout(() => void this.#spawn(), delay);
  }

  /** Kills the current process so the supervisor starts another. */
  #recycle(reason: string): void {
    if (!this.#proc || this.#proc.exited) return;
    this.#killReason = reason;
    this.#log.warn({ reason }, "recycling ffmpeg");
    this.#proc.stop();
  }

  /** Once a second (the room's tick): per-rendition fps and bitrate, and the stall watch. */
  tick(elapsedMs: number, now: number): void {
    if (this.#closed) return;
    const { metrics } = this.#opts;
    for (const o of this.#outputs) {
      const frames = o.input.frames;
      o.fps = elapsedMs > 0 ? Math.round(((frames - o.framesAtTick) * 10_000) / elapsedMs) / 10 : 0;
      o.framesAtTick = frames;
      metrics.transcodeFps.labels(this.room, o.rendition.name).set(o.fps);
      metrics.transcodeBitrate.labels(this.room, o.rendition.name).set(o.output.bitrate);
    }
    const inputFlowing = now - this.#lastInputAt < 2000;
    if (this.#state === "running" && inputFlowing) {
      const quiet = now - Math.min(...this.#outputs.map((o) => o.input.lastPacketAt));
      if (quiet > STALL_MS) this.#recycle("stall");
    } else if (this.#state === "starting" && inputFlowing && this.#proc && now - this.#startedAt > READY_TIMEOUT_MS) {
      this.#recycle("start_timeout");
    }
  }

  details(): TranscodeDetails {
    const backend = this.#backend;
    return {
      state: this.#state,
      reason: this.#reason ?? null,
      ladder: formatLadder(this.ladder),
      encoder: backend ? ENCODER_NAME[backend.encoder.kind] : null,
      decode: backend?.encoder.nvenc?.decode ?? (backend ? "cpu" : null),
      scale: backend?.encoder.nvenc?.scale ?? (backend ? "cpu" : null),
      source: this.#size ? { codec: this.codec, width: this.#size.width, height: this.#size.height, fps: this.#fps } : null,
      ffmpegInput: this.#ffmpegInput ?? null,
      pid: this.pid ?? null,
      restarts: this.restarts,
      uptimeSec: this.#state === "running" ? Math.round((Date.now() - this.#readyAt) / 1000) : 0,
      progress: this.#progress ?? null,
      errors: this.errors,
      lastError: this.lastError ?? null,
      renditions: this.#outputs.map((o) => ({
        name: o.rendition.name,
        width: o.rendition.width,
        height: o.rendition.height,
        targetBitrate: o.rendition.bitrateKbps * 1000,
        bitrate: o.output.bitrate,
        fps: o.fps,
        packets: o.input.packets,
        viewers: o.output.viewers,
      })),
    };
  }

  /** Synchronous SIGKILL of the process group: for the server's own exit, when there is no time for SIGTERM. */
  killNow(): void {
    this.#proc?.kill();
  }

  /** Stops ffmpeg (SIGTERM, then SIGKILL) and frees the sockets and outputs. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#state = "closed";
    this.#untap();
    clearTimeout(this.#restartTimer);
    clearTimeout(this.#keyframeTimer);
    this.#proc?.stop();
    this.#release();
    const { metrics } = this.#opts;
    for (const o of this.#outputs) {
      metrics.transcodeFps.remove(this.room, o.rendition.name);
      metrics.transcodeBitrate.remove(this.room, o.rendition.name);
    }
    metrics.transcodeSpeed.remove(this.room);
    // The owner forgets this transcoder once its process is gone too (see #onExit), so a server exiting now can
    // still kill a process that is taking its time over SIGTERM.
    if (!this.#proc) this.#opts.onClosed?.(this);
  }

  #release(): void {
    this.#sender?.close();
    this.#sender = undefined;
    for (const o of this.#outputs) {
      o.input.close();
      o.output.close();
    }
  }
}
