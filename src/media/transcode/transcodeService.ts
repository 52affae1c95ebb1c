// Transcoding for the whole server: finds ffmpeg, probes the encoder once at start, says what it chose and why
// (log, metrics, /api/bootstrap), and gives each room that asks for a ladder its Transcoder. It keeps every live
// transcoder so the server can kill their processes on its way out.
import type { Config } from "../../config.ts";
import type { Logger } from "../../log.ts";
import type { Metrics } from "../../metrics/metrics.ts";
import { codecName } from "../../rtc/codecs.ts";
import { fmtpParams } from "../../rtc/sdp.ts";
import { resolveFfmpeg, type FfmpegBinary } from "../ffmpeg.ts";
import { ENCODER_NAME, type SourceCodec } from "./encoderArgs.ts";
import { formatLadder, type Ladder } from "./ladder.ts";
import { decideEncoder, probeNvencCached, type EncoderDecision, type NvencProbe } from "./probe.ts";
import type { TranscodeSource } from "./source.ts";
import { Transcoder, type TranscodeBackend } from "./transcoder.ts";

export interface TranscodeStatus {
  /** "probing" until ffmpeg is found and the encoder chosen. */
  state: "probing" | "ready" | "unavailable";
  /** The default ladder (TRANSCODE_LADDER); rooms may bring their own. Empty when off by default. */
  ladder: string;
  /** ffmpeg's encoder for H264 sources (else VP8's), or null when nothing can be transcoded. */
  encoder: string | null;
  encoders: Record<SourceCodec, string | null>;
  setting: Config["transcodeEncoder"];
  reason: string;
  ffmpeg: { path: string; version: string; source: string } | null;
  probe: NvencProbe["steps"] | null;
}

export interface TranscodeServiceDeps {
  config: Config;
  metrics: Metrics;
  log: Logger;
  /** Tests and benchmarks swap in another ffmpeg resolution. */
  resolve?: () => Promise<FfmpegBinary | undefined>;
  /** A room's transcoder gave up (webhooks listen here). */
  onFailed?(room: string, reason: string): void;
}

/** The source codec a track of this codec can be transcoded from, or why not. */
export function transcodableCodec(codec: { mimeType: string; fmtp: string }): SourceCodec | string {
  const name = codecName(codec.mimeType);
  if (name === "vp8") return "vp8";
  if (name === "h264") {
    // Renditions are packetized with FU-A (mode 1); a viewer that negotiated mode 0 could not take them.
    if (fmtpParams(codec.fmtp).get("packetization-mode") === "1") return "h264";
    return "H264 with packetization-mode 0 is not transcoded (renditions need mode 1)";
  }
  return `${codec.mimeType} is not transcoded (H264 and VP8 are)`;
}

/** Why a publish asking for `ladder` gets no transcoder (the room API shows it), or undefined when it gets one. */
export function notTranscodedReason(video: Pick<TranscodeSource, "codec" | "simulcast"> | undefined, ladder: Ladder): string | undefined {
  if (ladder.length === 0) return undefined;
  if (!video) return "a ladder was asked for, but the publisher sends no video";
  if (video.simulcast) return "the publisher sends simulcast layers; those are used instead of a ladder";
  const codec = transcodableCodec(video.codec);
  return codec === "h264" || codec === "vp8" ? undefined : codec;
}

export class TranscodeService {
  readonly #deps: TranscodeServiceDeps;
  readonly #log: Logger;
  readonly #live = new Set<Transcoder>();
  /** Called when the last live transcoder is gone. */
  #onIdle: (() => void) | undefined;
  #ready: Promise<void> | undefined;
  #ffmpeg: FfmpegBinary | undefined;
  #decision: EncoderDecision | undefined;
  #probe: NvencProbe | undefined;
  #unavailable: string | undefined;

  constructor(deps: TranscodeServiceDeps) {
    this.#deps = deps;
    this.#log = deps.log.child({ part: "transcode" });
  }

  /** Finds ffmpeg and probes the encoder; idempotent, never rejects. */
  init(): Promise<void> {
    this.#ready ??= this.#init().catch((err: unknown) => {
      this.#unavailable = `transcoding is off: ${(err as Error).message}`;
      this.#log.error({ err }, this.#unavailable);
    });
    return this.#ready;
  }

  async #init(): Promise<void> {
    const { config, metrics } = this.#deps;
    const configured = config.transcodeLadder.length > 0;
    const ffmpeg = await (this.#deps.resolve ?? (() => resolveFfmpeg({ ffmpegPath: config.ffmpegPath })))();
    if (!ffmpeg) {
      const tried = config.ffmpegPath ? `FFMPEG_PATH=${config.ffmpegPath}, ` : "";
      this.#unavailable = `no ffmpeg found (tried ffmpeg-static's binary, ${tried}ffmpeg on PATH): transcoding is off; install ffmpeg or set FFMPEG_PATH`;
      // Only a warning when someone asked for ladders; otherwise it matters only if a room asks for one.
      if (configured) this.#log.warn(this.#unavailable);
      else this.#log.info(this.#unavailable);
      return;
    }
    this.#ffmpeg = ffmpeg;
    const setting = config.transcodeEncoder;
    this.#probe = setting === "auto" || setting === "nvenc" ? await probeNvencCached(ffmpeg.path) : undefined;
    const decision = decideEncoder(setting, this.#probe);
    this.#decision = decision;
    for (const codec of ["h264", "vp8"] as const) {
      const choice = decision.byCodec[codec];
      if (choice) metrics.transcodeEncoder.labels(codec, ENCODER_NAME[choice.kind]).set(1);
      if (choice) metrics.transcodeProcesses.labels(ENCODER_NAME[choice.kind]).set(0);
    }
    const encoder = decision.primary ? ENCODER_NAME[decision.primary] : "none";
    this.#log.info(
      { encoder, reason: decision.reason, ffmpeg: ffmpeg.path, version: ffmpeg.version, probe: this.#probe?.steps, ladder: formatLadder(config.transcodeLadder) },
      `transcoding encoder: ${encoder} (${decision.reason})`,
    );
  }

  /** For /api/bootstrap: waits for the probe (it takes a second at most without a GPU). */
  async status(): Promise<TranscodeStatus> {
    await this.init();
    return this.statusNow();
  }

  statusNow(): TranscodeStatus {
    const { config } = this.#deps;
    const decision = this.#decision;
    const ffmpeg = this.#ffmpeg;
    const encoders = {
      h264: decision?.byCodec.h264 ? ENCODER_NAME[decision.byCodec.h264.kind] : null,
      vp8: decision?.byCodec.vp8 ? ENCODER_NAME[decision.byCodec.vp8.kind] : null,
    };
    return {
      state: this.#unavailable ? "unavailable" : decision ? "ready" : "probing",
      ladder: formatLadder(config.transcodeLadder),
      encoder: decision?.primary ? ENCODER_NAME[decision.primary] : null,
      encoders,
      setting: config.transcodeEncoder,
      reason: this.#unavailable ?? decision?.reason ?? "probing",
      ffmpeg: ffmpeg ? { path: ffmpeg.path, version: ffmpeg.version, source: ffmpeg.source } : null,
      probe: this.#probe?.steps ?? null,
    };
  }

  /** What a transcoder of `codec` sources runs, once known; a string says why there is nothing. */
  async backendFor(codec: SourceCodec): Promise<TranscodeBackend | string> {
    await this.init();
    if (this.#unavailable || !this.#ffmpeg || !this.#decision) return this.#unavailable ?? "transcoding is unavailable";
    const encoder = this.#decision.byCodec[codec];
    if (!encoder) return this.#decision.reason;
    return { ffmpeg: this.#ffmpeg, encoder };
  }

  /**
   * The transcoder for a new publisher's video, when its room has a ladder. It waits for the source's first
   * keyframe before starting ffmpeg. Undefined (with the reason logged) when the tracks cannot be transcoded.
   */
  attach(opts: { room: string; video: TranscodeSource | undefined; ladder: Ladder; log: Logger }): Transcoder | undefined {
    if (opts.ladder.length === 0) return undefined;
    void this.init();
    const skipped = notTranscodedReason(opts.video, opts.ladder);
    const video = opts.video;
    const codec = video && transcodableCodec(video.codec);
    if (skipped !== undefined || !video || (codec !== "h264" && codec !== "vp8")) {
      opts.log.info({ reason: skipped }, "room not transcoded");
      return undefined;
    }
    const transcoder = new Transcoder({
      room: opts.room,
      source: video,
      codec,
      ladder: opts.ladder,
      backend: (c) => this.backendFor(c),
      metrics: this.#deps.metrics,
      log: opts.log,
      onClosed: (t) => {
        this.#live.delete(t);
        if (this.#live.size === 0) this.#onIdle?.();
      },
      onFailed: (_t, reason) => this.#deps.onFailed?.(opts.room, reason),
    });
    this.#live.add(transcoder);
    return transcoder;
  }

  get liveTranscoders(): number {
    return this.#live.size;
  }

  /**
   * Waits up to `budgetMs` for every transcoder's process to be gone (their rooms closed them with SIGTERM), then
   * kills what is left. Resolves true when none had to be killed.
   */
  async close(budgetMs: number): Promise<boolean> {
    if (this.#live.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, budgetMs);
        this.#onIdle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#onIdle = undefined;
    }
    const clean = this.#live.size === 0;
    this.killAll();
    return clean;
  }

  /** SIGKILL to every transcoder's process group, synchronously: the server is exiting. */
  killAll(): void {
    for (const t of this.#live) t.killNow();
  }
}
