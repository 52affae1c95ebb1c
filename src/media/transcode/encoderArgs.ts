// The ffmpeg command line of one room's transcoder: the publisher's video RTP in (an SDP handed over as a data:
// URI, so nothing is written to disk), decoded once, scaled to each rendition, encoded, and sent as RTP to one
// loopback port per rendition. Three encoder paths: NVENC (with CUDA decode and scaling where they work), libx264
// and libvpx (VP8). Pure: every decision is a function of the arguments, so each path is unit-tested.
import type { Rendition } from "./ladder.ts";

export type EncoderKind = "nvenc" | "x264" | "vp8";
export type SourceCodec = "h264" | "vp8";

/** TRANSCODE_ENCODER: auto probes NVENC and falls back to libx264; the others force one encoder. */
export type EncoderSetting = "auto" | EncoderKind;
export const ENCODER_SETTINGS: readonly EncoderSetting[] = ["auto", "nvenc", "x264", "vp8"];

/** How much of the NVENC path runs on the GPU, as the probe found it. */
export interface NvencPath {
  /** NVDEC through `-hwaccel cuda`, frames left in GPU memory. */
  decode: "cuda" | "cpu";
  /** `scale_cuda` (after `hwupload_cuda` when decoding on the CPU). */
  scale: "cuda" | "cpu";
}

export interface EncoderChoice {
  kind: EncoderKind;
  /** Only for nvenc; CPU decode and scale when absent. */
  nvenc?: NvencPath;
}

/** The codec each encoder makes; a rendition must be in the codec the viewers negotiated for the source. */
export const ENCODER_CODEC: Readonly<Record<EncoderKind, SourceCodec>> = { nvenc: "h264", x264: "h264", vp8: "vp8" };

/** The ffmpeg encoder name, as logs, metrics and /api/bootstrap show it. */
export const ENCODER_NAME: Readonly<Record<EncoderKind, string>> = { nvenc: "h264_nvenc", x264: "libx264", vp8: "libvpx" };

export interface InputStream {
  codec: SourceCodec;
  payloadType: number;
  /** The loopback UDP port ffmpeg listens on for RTP (and the next one for RTCP). */
  port: number;
  /** H264 only: `sprop-parameter-sets` from the stream's SPS/PPS, so ffmpeg knows the picture before a keyframe. */
  spropParameterSets?: string;
}

export interface OutputTarget extends Rendition {
  /** The loopback UDP port roomcast receives this rendition's RTP on (RTCP goes there too). */
  port: number;
}

export interface TranscodeArgsOptions {
  input: InputStream;
  encoder: EncoderChoice;
  outputs: readonly OutputTarget[];
  /** Seconds between key frames: a rendition cannot answer PLI, so this bounds a new viewer's wait. Default 1. */
  gopSeconds?: number;
  /** The source's frame rate if known (for -g and the H264 level); default 30. */
  fps?: number;
  /** First line of `ffmpeg -version`: picks -fps_mode (5.1+) or -vsync. */
  ffmpegVersion?: string;
  /** libx264 preset; veryfast unless the operator or a benchmark says otherwise. */
  x264Preset?: string;
}

/** Payload type ffmpeg's RTP muxer uses for the dynamic codecs; roomcast rewrites it per viewer anyway. */
const OUTPUT_PAYLOAD_TYPE = 96;
/** RTP packets small enough for any path once SRTP and header extensions are added. */
const RTP_PACKET_SIZE = 1200;

export function parseFfmpegVersion(line: string | undefined): { major: number; minor: number } | undefined {
  // "ffmpeg version 5.1.9-0+deb12u1", "ffmpeg version n6.1.1", "ffmpeg version 7.0-static ...".
  const m = /ffmpeg version n?(\d+)\.(\d+)/.exec(line ?? "");
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
}

/** -fps_mode arrived in 5.1 and -vsync is deprecated since; a git build ("N-1234-g...") counts as new. */
function fpsModeArgs(version: string | undefined): string[] {
  const v = parseFfmpegVersion(version);
  const old = v !== undefined && (v.major < 5 || (v.major === 5 && v.minor < 1));
  return old ? ["-vsync", "passthrough"] : ["-fps_mode", "passthrough"];
}

/** The SDP ffmpeg reads the publisher's RTP with: one video m-line on the loopback port, the publisher's PT. */
export function inputSdp(input: InputStream): string {
  const lines = [
    "v=0",
    "o=- 0 0 IN IP4 127.0.0.1",
    "s=roomcast",
    "c=IN IP4 127.0.0.1",
    "t=0 0",
    `m=video ${input.port} RTP/AVP ${input.payloadType}`,
  ];
  if (input.codec === "h264") {
    lines.push(`a=rtpmap:${input.payloadType} H264/90000`);
    const sprop = input.spropParameterSets ? `;sprop-parameter-sets=${input.spropParameterSets}` : "";
    lines.push(`a=fmtp:${input.payloadType} packetization-mode=1${sprop}`);
  } else {
    lines.push(`a=rtpmap:${input.payloadType} VP8/90000`);
  }
  lines.push("a=recvonly");
  return `${lines.join("\r\n")}\r\n`;
}

/** H.264 Table A-1: max frame size (macroblocks) and max macroblocks per second per level. */
const H264_LEVELS: readonly { level: string; maxFs: number; maxMbps: number }[] = [
  { level: "3.0", maxFs: 1620, maxMbps: 40500 },
  { level: "3.1", maxFs: 3600, maxMbps: 108000 },
  { level: "3.2", maxFs: 5120, maxMbps: 216000 },
  { level: "4.0", maxFs: 8192, maxMbps: 245760 },
  { level: "4.2", maxFs: 8704, maxMbps: 522240 },
  { level: "5.0", maxFs: 22080, maxMbps: 589824 },
  { level: "5.1", maxFs: 36864, maxMbps: 983040 },
  { level: "5.2", maxFs: 36864, maxMbps: 2073600 },
];

/**
 * The lowest level that holds the rendition, never below 3.0: every browser's H264 entry offers at least 3.1, and a
 * decoder accepts any stream at or under its level, so a rendition no larger than the source fits what the viewer
 * negotiated for the source.
 */
export function h264Level(width: number, height: number, fps: number): string {
  const fs = Math.ceil(width / 16) * Math.ceil(height / 16);
  const mbps = fs * Math.min(Math.max(fps, 1), 240);
  return (H264_LEVELS.find((l) => fs <= l.maxFs && mbps <= l.maxMbps) ?? H264_LEVELS[H264_LEVELS.length - 1])?.level as string;
}

function rateArgs(kbps: number): string[] {
  // CBR-like with a one-second VBV buffer: WebRTC viewers budget for a steady rate, and a short buffer keeps latency.
  return ["-b:v", `${kbps}k`, "-maxrate", `${kbps}k`, "-bufsize", `${kbps}k`];
}

function keyframeArgs(gopSeconds: number, fps: number): string[] {
  const g = String(Math.max(1, Math.round(gopSeconds * fps)));
  // Forced by time as well as by count: the frame rate of a live source is a guess until it has run a while.
  return ["-g", g, "-keyint_min", g, "-force_key_frames", `expr:gte(t,n_forced*${gopSeconds})`];
}

/** Encoder arguments for one rendition. */
export function encoderArgs(encoder: EncoderChoice, out: Rendition, opts: { gopSeconds: number; fps: number; x264Preset: string }): string[] {
  const gop = keyframeArgs(opts.gopSeconds, opts.fps);
  switch (encoder.kind) {
    case "x264":
      return [
        "-c:v", "libx264",
        "-preset", opts.x264Preset,
        // zerolatency: no lookahead, no frame threads' delay, no B-frames: a frame in, a frame out.
        "-tune", "zerolatency",
        // Constrained Baseline decodes in every browser and hardware decoder, under any profile they negotiated.
        "-profile:v", "baseline",
        "-level:v", h264Level(out.width, out.height, opts.fps),
        "-bf", "0",
        "-sc_threshold", "0",
        ...rateArgs(out.bitrateKbps),
        ...gop,
      ];
    case "nvenc":
      return [
        "-c:v", "h264_nvenc",
        "-preset", "p1",
        "-tune", "ll",
        "-profile:v", "baseline",
        "-level:v", h264Level(out.width, out.height, opts.fps),
        "-rc", "cbr",
        "-bf", "0",
        "-zerolatency", "1",
        "-delay", "0",
        "-no-scenecut", "1",
        // A forced key frame must be an IDR, or a viewer joining on it cannot start decoding.
        "-forced-idr", "1",
        ...rateArgs(out.bitrateKbps),
        ...gop,
      ];
    case "vp8":
      return [
        "-c:v", "libvpx",
        "-deadline", "realtime",
        "-cpu-used", "8",
        "-lag-in-frames", "0",
        "-auto-alt-ref", "0",
        // Each frame decodable after a loss in an earlier one's partitions, as WebRTC senders do.
        "-error-resilient", "1",
        "-minrate", `${out.bitrateKbps}k`,
        ...rateArgs(out.bitrateKbps),
        ...gop,
      ];
  }
}

/** The filter of one rendition: scale to its size, wherever the frames are. */
export function scaleFilter(encoder: EncoderChoice, out: Rendition): string {
  const nv = encoder.kind === "nvenc" ? encoder.nvenc : undefined;
  if (nv?.scale === "cuda") {
    const scale = `scale_cuda=${out.width}:${out.height}`;
    return nv.decode === "cuda" ? scale : `format=nv12,hwupload_cuda,${scale}`;
  }
  return `scale=${out.width}:${out.height},format=yuv420p`;
}

/** Global and input options for the encoder path: where decoding happens. */
function hardwareArgs(encoder: EncoderChoice): string[] {
  const nv = encoder.kind === "nvenc" ? encoder.nvenc : undefined;
  if (nv?.decode === "cuda") return ["-hwaccel", "cuda", "-hwaccel_output_format", "cuda"];
  if (nv?.scale === "cuda") return ["-init_hw_device", "cuda=cu", "-filter_hw_device", "cu"];
  return [];
}

export function outputUrl(port: number): string {
  // The RTP muxer over plain UDP, not rtp://: that protocol opens a second socket for RTCP on its local port + 1
  // and logs a bind error for every busy port it tries. Here ffmpeg's sender reports come down the same socket,
  // and roomcast tells them from RTP by the payload type.
  return `udp://127.0.0.1:${port}?pkt_size=${RTP_PACKET_SIZE}`;
}

/** The command line up to the outputs: logging, where decoding happens, and the RTP input. */
export function inputArgs(input: InputStream, encoder: EncoderChoice): string[] {
  const sdp = Buffer.from(inputSdp(input)).toString("base64");
  return [
    "-hide_banner",
    "-nostdin",
    // Every line prefixed with its level, so errors are told from chatter; stats (fps, speed) once a second.
    "-loglevel", "level+info",
    "-stats",
    "-stats_period", "1",
    ...hardwareArgs(encoder),
    "-protocol_whitelist", "data,udp,rtp",
    // Start at once and hand frames on as they come: no probing buffer, no decoder frame-thread delay.
    "-fflags", "+nobuffer+discardcorrupt",
    "-flags", "low_delay",
    // No stream probing: the SDP names the codec (and for H264 carries the SPS/PPS), and ffmpeg sets up its filters
    // and encoders from the first decoded frame. Probing would hold the start back by about two seconds.
    "-probesize", "32",
    "-analyzeduration", "0",
    // The RTP reorder queue waits this long for a missing packet; the default half second would stall each loss.
    "-max_delay", "150000",
    "-f", "sdp",
    "-i", `data:application/sdp;base64,${sdp}`,
  ];
}

/** The whole command line after the binary. Each rendition is one output fed by the single decoder. */
export function buildTranscodeArgs(opts: TranscodeArgsOptions): string[] {
  if (opts.outputs.length === 0) throw new Error("a transcoder needs at least one rendition");
  const gopSeconds = opts.gopSeconds ?? 1;
  const fps = opts.fps ?? 30;
  const x264Preset = opts.x264Preset ?? "veryfast";
  const args = inputArgs(opts.input, opts.encoder);
  for (const out of opts.outputs) {
    args.push(
      "-map", "0:v:0",
      "-vf", scaleFilter(opts.encoder, out),
      ...encoderArgs(opts.encoder, out, { gopSeconds, fps, x264Preset }),
      ...fpsModeArgs(opts.ffmpegVersion),
      "-an",
      "-f", "rtp",
      "-payload_type", String(OUTPUT_PAYLOAD_TYPE),
      outputUrl(out.port),
    );
  }
  return args;
}
