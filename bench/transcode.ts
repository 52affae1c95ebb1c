// The transcoding benchmark of issue 6: what one 720p30 rendition costs with libx264, on this machine. ffmpeg runs
// with exactly the arguments roomcast gives it (src/media/transcode/encoderArgs.ts), reading a real-time 1080p30
// H264 stream over loopback RTP, as from OBS, and sending its renditions as RTP to sockets this process counts.
// Its CPU (utime + stime from /proc) is measured over a window in four runs:
//
//   decode only   1080p30 decoded, nothing encoded (the part every rendition shares)
//   1 x 720p      one 720p rendition
//   2 x 720p      two identical 720p renditions: (this - decode) / 2 is the figure reported, per rendition
//   ladder        720p:2500k,480p:1200k,240p:400k, the README's example
//
// On a shared machine ffmpeg may get less CPU than it needs and fall behind real time; each run's CPU is therefore
// also given per 30 frames it actually sent (CPU per frame x 30), and the per-rendition figure uses those.
//
//   bun run bench -- transcode                  20 s windows after 5 s of warm-up (about two minutes)
//   bun run bench -- transcode --quick          8 s windows (under a minute)
//   options: --window=SEC --warmup=SEC --preset=veryfast|ultrafast|... --ffmpeg=PATH
//
// The source is testsrc2 with light temporal noise (a camera's grain), encoded once like OBS would (High profile,
// CABAC, no B-frames, 2 s GOP, 6 Mbps) and cached. Prints a table, then one JSON object as the last line.
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { join, resolve } from "node:path";
import { resolveFfmpeg } from "../src/media/ffmpeg.ts";
import { buildTranscodeArgs, inputArgs, type OutputTarget } from "../src/media/transcode/encoderArgs.ts";
import { fitLadder, parseLadder, type Rendition } from "../src/media/transcode/ladder.ts";
import { freeUdpPortPair, RtpInput } from "../src/media/transcode/rtpIngest.ts";
import { killAll, killAllSync, processCpuUs, sleep, spawnChild } from "./lib/proc.ts";
import { loadAverage, machine } from "./lib/report.ts";

interface Options {
  windowSec: number;
  warmupSec: number;
  preset: string;
  ffmpeg: string | undefined;
}

interface Run {
  name: string;
  renditions: Rendition[];
}

interface Result {
  name: string;
  renditions: string;
  /** ffmpeg's CPU over the window, in cores (1 = one core fully busy). */
  cores: number;
  /** Frames per second each rendition sent during the window. */
  fps: number[];
  /** `cores` scaled to 30 output frames per second (equal to `cores` when ffmpeg kept up). */
  coresAt30: number;
}

const SOURCE = { width: 1920, height: 1080, fps: 30 };
const CACHE = resolve(import.meta.dir, "../node_modules/.cache/roomcast-bench");
const PAYLOAD_TYPE = 96;

function parseArgs(args: string[]): Options {
  const quick = args.includes("--quick");
  const opts: Options = { windowSec: quick ? 8 : 20, warmupSec: quick ? 3 : 5, preset: "veryfast", ffmpeg: undefined };
  for (const arg of args) {
    const [key, value] = arg.split("=", 2);
    if (key === "--window" && value) opts.windowSec = Number(value);
    else if (key === "--warmup" && value) opts.warmupSec = Number(value);
    else if (key === "--preset" && value) opts.preset = value;
    else if (key === "--ffmpeg" && value) opts.ffmpeg = value;
    else if (key !== "--quick") throw new Error(`unknown option ${arg} (options: --quick --window=SEC --warmup=SEC --preset=NAME --ffmpeg=PATH)`);
  }
  return opts;
}

const log = (line: string) => console.log(`[transcode] ${line}`);

/** The 1080p30 source, encoded once and kept in node_modules/.cache. */
async function sourceClip(ffmpeg: string, seconds: number): Promise<string> {
  mkdirSync(CACHE, { recursive: true });
  const path = join(CACHE, `source-${SOURCE.height}p${SOURCE.fps}-${seconds}s.h264`);
  if (existsSync(path)) return path;
  log(`encoding the ${seconds} s ${SOURCE.width}x${SOURCE.height}@${SOURCE.fps} source clip once (cached in ${CACHE})`);
  const tmp = `${path}.tmp`;
  const child = await spawnChild({
    cmd: ffmpeg,
    args: [
      "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
      "-f", "lavfi", "-i", `testsrc2=size=${SOURCE.width}x${SOURCE.height}:rate=${SOURCE.fps},noise=alls=6:allf=t`,
      "-t", String(seconds),
      "-c:v", "libx264", "-preset", "superfast", "-profile:v", "high", "-pix_fmt", "yuv420p",
      "-bf", "0", "-g", String(SOURCE.fps * 2), "-b:v", "6M", "-maxrate", "6M", "-bufsize", "6M",
      "-x264-params", "repeat-headers=1",
      "-f", "h264", tmp,
    ],
    cpus: undefined,
    maxSeconds: 600,
  });
  const code = await child.exited;
  if (code !== 0) throw new Error(`encoding the source failed (${code}): ${child.tail.join("\n")}`);
  renameSync(tmp, path);
  return path;
}

/** One measured run: the transcoder and a real-time RTP sender of the clip; ffmpeg's CPU over the window. */
async function measure(ffmpeg: { path: string; version: string }, clip: string, run: Run, opts: Options): Promise<Result> {
  const inputs = await Promise.all(run.renditions.map((_, i) => RtpInput.open(0x1000 + i, () => undefined)));
  const port = await freeUdpPortPair();
  const outputs: OutputTarget[] = run.renditions.map((r, i) => ({ ...r, port: (inputs[i] as RtpInput).port }));
  const input = { codec: "h264" as const, payloadType: PAYLOAD_TYPE, port };
  const args =
    outputs.length > 0
      ? buildTranscodeArgs({ input, encoder: { kind: "x264" }, outputs, fps: SOURCE.fps, ffmpegVersion: ffmpeg.version, x264Preset: opts.preset })
      : // Decode only: the same input, frames thrown away.
        [...inputArgs(input, { kind: "x264" }), "-map", "0:v:0", "-f", "null", "-"];
  const limit = opts.warmupSec + opts.windowSec + 30;
  const transcoder = await spawnChild({ cmd: ffmpeg.path, args, cpus: undefined, maxSeconds: limit });
  // Give ffmpeg a moment to bind its input port; a keyframe comes every 2 s anyway.
  await sleep(300);
  const sender = await spawnChild({
    cmd: ffmpeg.path,
    args: ["-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-f", "h264", "-framerate", String(SOURCE.fps), "-i", clip, "-c", "copy", "-f", "rtp", `rtp://127.0.0.1:${port}`],
    cpus: undefined,
    maxSeconds: limit,
  });
  try {
    await sleep(opts.warmupSec * 1000);
    if (transcoder.proc.exitCode !== null) throw new Error(`ffmpeg exited during warm-up: ${transcoder.tail.join("\n")}`);
    const cpu0 = processCpuUs(transcoder.pid);
    const frames0 = inputs.map((i) => i.frames);
    const t0 = performance.now();
    await sleep(opts.windowSec * 1000);
    const cpu1 = processCpuUs(transcoder.pid);
    const seconds = (performance.now() - t0) / 1000;
    if (cpu0 === undefined || cpu1 === undefined) throw new Error(`ffmpeg exited during the window: ${transcoder.tail.join("\n")}`);
    const cores = (cpu1 - cpu0) / 1e6 / seconds;
    const fps = inputs.map((i, n) => (i.frames - (frames0[n] as number)) / seconds);
    // Decode only sends nothing: the sender's real-time rate is its input.
    const outFps = fps.length === 0 ? SOURCE.fps : Math.min(...fps);
    return {
      name: run.name,
      renditions: run.renditions.map((r) => `${r.width}x${r.height}@${r.bitrateKbps}k`).join(" ") || "-",
      cores,
      fps,
      coresAt30: outFps > 0 ? (cores * SOURCE.fps) / outFps : Number.NaN,
    };
  } finally {
    await Promise.all([sender.stop(), transcoder.stop()]);
    for (const i of inputs) i.close();
  }
}

const pct = (cores: number) => `${(cores * 100).toFixed(0)}%`;

export async function main(args: string[]): Promise<number> {
  const opts = parseArgs(args);
  process.on("exit", killAllSync);
  process.on("SIGINT", () => void killAll().finally(() => process.exit(130)));
  const ffmpeg = await resolveFfmpeg({ ffmpegPath: opts.ffmpeg });
  if (!ffmpeg) {
    console.error("transcode bench: no ffmpeg found (ffmpeg-static, --ffmpeg=PATH or ffmpeg on PATH)");
    return 2;
  }
  const m = machine();
  log(`${m.nproc} cores (${m.cpu}), load ${loadAverage()}; ${ffmpeg.version}`);
  log(`libx264 preset ${opts.preset}, tune zerolatency, Constrained Baseline; ${opts.warmupSec} s warm-up, ${opts.windowSec} s window per run`);
  const clip = await sourceClip(ffmpeg.path, Math.ceil(opts.warmupSec + opts.windowSec + 10));
  const source = { width: SOURCE.width, height: SOURCE.height };
  const r720 = fitLadder(parseLadder("720p:2500k"), source);
  const runs: Run[] = [
    { name: "decode only", renditions: [] },
    { name: "1 x 720p", renditions: r720 },
    { name: "2 x 720p", renditions: [...r720, ...r720.map((r) => ({ ...r, name: "720p-b" }))] },
    { name: "ladder", renditions: fitLadder(parseLadder("720p:2500k,480p:1200k,240p:400k"), source) },
  ];
  const results: Result[] = [];
  for (const run of runs) {
    log(`${run.name}: measuring`);
    results.push(await measure(ffmpeg, clip, run, opts));
  }
  const [decode, one, two, ladder] = results as [Result, Result, Result, Result];
  const perRendition = (two.coresAt30 - decode.coresAt30) / 2;

  console.log("");
  console.log(`source: ${SOURCE.width}x${SOURCE.height}@${SOURCE.fps} H264 High over loopback RTP, in real time`);
  console.log("run           renditions                                      ffmpeg CPU   per 30 frames   fps out");
  for (const r of results) {
    const fps = r.fps.length === 0 ? "-" : r.fps.map((f) => f.toFixed(1)).join(" / ");
    console.log(`${r.name.padEnd(14)}${r.renditions.padEnd(48)}${pct(r.cores).padStart(10)}${pct(r.coresAt30).padStart(16)}   ${fps}`);
  }
  console.log("(CPU as a share of one core: 100% = one core fully busy)");
  const keptUp = results.every((r) => r.fps.every((f) => f >= SOURCE.fps * 0.95));
  console.log("");
  console.log(
    `CPU per 720p30 rendition (libx264 ${opts.preset}, 2500k): ${pct(perRendition)} of one core ` +
      `(1 x 720p minus decode: ${pct(one.coresAt30 - decode.coresAt30)}); the 1080p30 decode all renditions share: ${pct(decode.coresAt30)}; ` +
      `the 720p/480p/240p ladder in all: ${pct(ladder.coresAt30)}` +
      (keptUp ? "" : `; ffmpeg fell behind real time in some run (load ${loadAverage()} on ${m.nproc} cores): figures are per 30 frames sent`),
  );
  console.log(
    JSON.stringify({
      bench: "transcode",
      encoder: "libx264",
      preset: opts.preset,
      source: `${SOURCE.width}x${SOURCE.height}@${SOURCE.fps}`,
      perRendition720p30Cores: Number(perRendition.toFixed(3)),
      decode1080p30Cores: Number(decode.coresAt30.toFixed(3)),
      ladder720p480p240pCores: Number(ladder.coresAt30.toFixed(3)),
      realTime: keptUp,
      runs: results.map((r) => ({
        ...r,
        cores: Number(r.cores.toFixed(3)),
        coresAt30: Number(r.coresAt30.toFixed(3)),
        fps: r.fps.map((f) => Number(f.toFixed(1))),
      })),
      machine: m,
      load: loadAverage(),
      windowSec: opts.windowSec,
      ffmpeg: ffmpeg.version,
    }),
  );
  // Falling behind on a busy shared machine is reported, not failed: the figures are still per frame.
  return 0;
}
