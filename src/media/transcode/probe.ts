// Which encoder transcoding uses. NVENC is trusted only after a real one-frame h264_nvenc encode: ffmpeg lists
// h264_nvenc whether or not there is a GPU, a driver and a free session. Then NVDEC decode with scale_cuda, then
// scale_cuda fed by an upload, each tried for real; what fails is done on the CPU. The result is kept per ffmpeg
// binary for the life of the process.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runFfmpeg, type RunResult } from "../ffmpeg.ts";
import { ENCODER_CODEC, ENCODER_NAME, type EncoderChoice, type EncoderKind, type EncoderSetting, type NvencPath, type SourceCodec } from "./encoderArgs.ts";


interface ProbeStep {
  step: "nvenc" | "cuda-decode" | "cuda-scale";
  ok: boolean;
  /** The line of ffmpeg's stderr that says why, when it failed. */
  error?: string;
}

export interface NvencProbe {
  ok: boolean;
  /** Where frames are decoded and scaled when NVENC works. */
  path: NvencPath | undefined;
  steps: ProbeStep[];
}

export type FfmpegRunner = (args: readonly string[]) => Promise<RunResult>;

const STEP_TIMEOUT_MS = 20_000;
const PROBE_SOURCE = ["-f", "lavfi", "-i", "color=c=black:s=320x240:r=30"];
const QUIET = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y"];

/** The stderr line that explains a failure ("Cannot load libcuda.so.1"), not the generic last words. */
export function failureReason(r: RunResult): string {
  if (r.timedOut) return "timed out";
  const lines = r.stderr.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "");
  const telling = lines.find((l) => /cannot|could not|no device|not supported|unsupported|no capable|failed|error|not found|no such|denied|invalid/i.test(l));
  const line = telling ?? lines[lines.length - 1] ?? (r.code === null ? "ffmpeg did not start" : `exit code ${r.code}`);
  return line.replace(/^\[[^\]]*@ 0x[0-9a-f]+\] /, "").slice(0, 200);
}

/** The three real attempts, in order; the runner is swappable so the decision logic is tested without a GPU. */
export async function probeNvenc(run: FfmpegRunner, scratchDir: string): Promise<NvencProbe> {
  const steps: ProbeStep[] = [];
  const attempt = async (step: ProbeStep["step"], args: readonly string[]): Promise<boolean> => {
    const r = await run(args);
    const ok = r.code === 0 && !r.timedOut;
    steps.push(ok ? { step, ok } : { step, ok, error: failureReason(r) });
    return ok;
  };
  const sample = join(scratchDir, "probe.h264");
  // One frame through h264_nvenc, kept as the input of the decode test.
  const encodes = await attempt("nvenc", [...QUIET, ...PROBE_SOURCE, "-frames:v", "1", "-c:v", "h264_nvenc", "-f", "h264", sample]);
  if (!encodes) return { ok: false, path: undefined, steps };
  const scaleOut = ["-vf", "scale_cuda=160:120", "-c:v", "h264_nvenc", "-f", "null", "-"];
  // Without CUDA decoding, -hwaccel cuda falls back to software frames, which scale_cuda refuses: a pass here means
  // decode, scale and encode all stayed on the GPU.
  const cudaDecode = await attempt("cuda-decode", [...QUIET, "-hwaccel", "cuda", "-hwaccel_output_format", "cuda", "-i", sample, ...scaleOut]);
  if (cudaDecode) return { ok: true, path: { decode: "cuda", scale: "cuda" }, steps };
  const cudaScale = await attempt("cuda-scale", [
    ...QUIET,
    "-init_hw_device", "cuda=cu",
    "-filter_hw_device", "cu",
    ...PROBE_SOURCE,
    "-frames:v", "1",
    "-vf", "format=nv12,hwupload_cuda,scale_cuda=160:120",
    "-c:v", "h264_nvenc",
    "-f", "null", "-",
  ]);
  return { ok: true, path: { decode: "cpu", scale: cudaScale ? "cuda" : "cpu" }, steps };
}

const cache = new Map<string, Promise<NvencProbe>>();

/** probeNvenc with the real binary, once per binary per process. */
export function probeNvencCached(ffmpegPath: string): Promise<NvencProbe> {
  let p = cache.get(ffmpegPath);
  if (!p) {
    p = (async () => {
      const dir = await mkdtemp(join(tmpdir(), "roomcast-nvenc-"));
      try {
        return await probeNvenc((args) => runFfmpeg(ffmpegPath, args, { timeoutMs: STEP_TIMEOUT_MS }), dir);
      } finally {
        await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      }
    })();
    cache.set(ffmpegPath, p);
  }
  return p;
}

/** What transcoding does for each source codec, and why, in words for the log and /api/bootstrap. */
export interface EncoderDecision {
  /** Per source codec: the encoder, or undefined when sources of that codec are not transcoded. */
  byCodec: Readonly<Record<SourceCodec, EncoderChoice | undefined>>;
  /** The encoder H264 sources get (the common case), else VP8's: what `features.transcode.encoder` names. */
  primary: EncoderKind | undefined;
  reason: string;
}

function describePath(path: NvencPath): string {
  if (path.decode === "cuda") return "NVDEC decode, scale_cuda and NVENC all on the GPU";
  if (path.scale === "cuda") return "CPU decode, scale_cuda and NVENC on the GPU (NVDEC failed)";
  return "CPU decode and scale, NVENC encode (NVDEC and scale_cuda failed)";
}

function firstError(probe: NvencProbe | undefined): string {
  return probe?.steps.find((s) => !s.ok)?.error ?? "not probed";
}

/**
 * The choice per source codec. A rendition must be in the codec the viewers negotiated for the source, so an
 * encoder of the other codec means those sources are not transcoded at all (and the reason says so).
 */
export function decideEncoder(setting: EncoderSetting, probe: NvencProbe | undefined): EncoderDecision {
  const nvenc: EncoderChoice | undefined = probe?.ok && probe.path ? { kind: "nvenc", nvenc: probe.path } : undefined;
  const x264: EncoderChoice = { kind: "x264" };
  const vp8: EncoderChoice = { kind: "vp8" };
  switch (setting) {
    case "auto":
      return nvenc
        ? { byCodec: { h264: nvenc, vp8 }, primary: "nvenc", reason: `auto: NVENC works (${describePath(nvenc.nvenc as NvencPath)}); VP8 sources use libvpx` }
        : {
            byCodec: { h264: x264, vp8 },
            primary: "x264",
            reason: `auto: no working NVENC (${firstError(probe)}), so libx264 for H264 sources; VP8 sources use libvpx`,
          };
    case "nvenc":
      return nvenc
        ? { byCodec: { h264: nvenc, vp8: undefined }, primary: "nvenc", reason: `TRANSCODE_ENCODER=nvenc: ${describePath(nvenc.nvenc as NvencPath)}; VP8 sources are not transcoded` }
        : {
            byCodec: { h264: undefined, vp8: undefined },
            primary: undefined,
            reason: `TRANSCODE_ENCODER=nvenc, but NVENC does not work here (${firstError(probe)}): transcoding is off (set TRANSCODE_ENCODER=auto to fall back to libx264)`,
          };
    case "x264":
    case "vp8": {
      const codec = ENCODER_CODEC[setting];
      const other: SourceCodec = codec === "h264" ? "vp8" : "h264";
      const byCodec = { [codec]: setting === "x264" ? x264 : vp8, [other]: undefined } as Record<SourceCodec, EncoderChoice | undefined>;
      return {
        byCodec,
        primary: setting,
        reason: `TRANSCODE_ENCODER=${setting}: ${ENCODER_NAME[setting]} for ${codec.toUpperCase()} sources; ${other.toUpperCase()} sources are not transcoded (their viewers negotiated ${other.toUpperCase()})`,
      };
    }
  }
}
