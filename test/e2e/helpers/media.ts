// Real media for the end-to-end tests, made at test time with ffmpeg: an H264 Annex B clip split into access units,
// and Opus packets read out of an Ogg file. Plus the little RTP/RTCP reading the clients need (H264 NAL types in
// an RTP payload, PLI/FIR in an RTCP compound packet). Pure functions apart from the ffmpeg runs.
import { spawn } from "node:child_process";
import { requireTool } from "../../helpers/requireTool.ts";

export const FFMPEG = requireTool("ffmpeg");

/** Runs ffmpeg and returns what it wrote to stdout; rejects with its stderr on a non-zero exit or after timeoutMs. */
export function runFfmpeg(args: string[], timeoutMs = 30_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const proc = spawn(FFMPEG, ["-hide_banner", "-loglevel", "error", "-nostdin", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    proc.stdout.on("data", (b: Buffer) => out.push(b));
    proc.stderr.on("data", (b: Buffer) => err.push(b));
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`ffmpeg timed out after ${timeoutMs} ms: ${args.join(" ")}`));
    }, timeoutMs);
    proc.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${FFMPEG}: ${e.message}`));
    });
    proc.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new Error(`ffmpeg exited with ${code}: ${Buffer.concat(err).toString("utf8").slice(-2000)}`));
    });
  });
}

export interface H264ClipOptions {
  width?: number;
  height?: number;
  fps?: number;
  /** Frames from one IDR to the next (x264 keyint, scene cuts off so the cadence is exact). */
  keyintFrames?: number;
  /** Total frames; a whole number of GOPs so the clip loops on an IDR. */
  frames?: number;
  /** x264 profile: baseline (Constrained Baseline, 42c0..), main or high. */
  profile?: "baseline" | "main" | "high";
}

export interface AccessUnit {
  /** The access unit's NAL units, each with a 4-byte start code (SPS/PPS/SEI before the slices). */
  data: Buffer;
  keyframe: boolean;
  nalTypes: number[];
}

export interface H264Clip {
  width: number;
  height: number;
  fps: number;
  keyintFrames: number;
  units: AccessUnit[];
}

const clipCache = new Map<string, Promise<H264Clip>>();

/**
 * A testsrc clip (moving pattern and a frame counter) encoded by libx264 like OBS does for WHIP: no B-frames,
 * SPS/PPS repeated before every IDR, a fixed keyframe interval. Cached per options within the process.
 */
export function encodeH264Clip(opts: H264ClipOptions = {}): Promise<H264Clip> {
  const width = opts.width ?? 640;
  const height = opts.height ?? 360;
  const fps = opts.fps ?? 30;
  const keyint = Math.max(1, Math.round(opts.keyintFrames ?? fps));
  const wanted = opts.frames ?? fps * 6;
  const frames = Math.max(1, Math.ceil(wanted / keyint)) * keyint;
  const profile = opts.profile ?? "baseline";
  const key = JSON.stringify([width, height, fps, keyint, frames, profile]);
  let clip = clipCache.get(key);
  if (!clip) {
    clip = runFfmpeg([
      "-f", "lavfi",
      "-i", `testsrc=size=${width}x${height}:rate=${fps}`,
      "-frames:v", String(frames),
      "-c:v", "libx264",
      "-preset", "veryfast",
      "-profile:v", profile,
      "-pix_fmt", "yuv420p",
      "-x264-params", `keyint=${keyint}:min-keyint=${keyint}:scenecut=0:bframes=0:repeat-headers=1:sliced-threads=0`,
      "-bsf:v", "h264_mp4toannexb",
      "-f", "h264",
      "pipe:1",
    ]).then((annexb) => {
      const units = splitAccessUnits(annexb);
      if (units.length !== frames) throw new Error(`expected ${frames} access units from ffmpeg, got ${units.length}`);
      if (!units[0]?.keyframe) throw new Error("the clip does not start with an IDR");
      return { width, height, fps, keyintFrames: keyint, units };
    });
    clip.catch(() => clipCache.delete(key));
    clipCache.set(key, clip);
  }
  return clip;
}

/** Splits an Annex B byte stream into NAL unit payloads (start codes removed). */
export function splitNalUnits(annexb: Buffer): Buffer[] {
  const starts: { at: number; len: number }[] = [];
  for (let i = 0; i + 2 < annexb.length; i++) {
    if (annexb[i] === 0 && annexb[i + 1] === 0) {
      if (annexb[i + 2] === 1) {
        starts.push({ at: i, len: 3 });
        i += 2;
      } else if (annexb[i + 2] === 0 && annexb[i + 3] === 1) {
        starts.push({ at: i, len: 4 });
        i += 3;
      }
    }
  }
  const nals: Buffer[] = [];
  starts.forEach((s, k) => {
    const end = starts[k + 1]?.at ?? annexb.length;
    const nal = annexb.subarray(s.at + s.len, end);
    if (nal.length > 0) nals.push(nal);
  });
  return nals;
}

const START_CODE = Buffer.from([0, 0, 0, 1]);

/**
 * Groups NAL units into access units: parameter sets and SEI go with the next picture; a slice whose
 * first_mb_in_slice is 0 starts a new picture (so multi-slice pictures stay whole). AUDs are dropped.
 */
export function splitAccessUnits(annexb: Buffer): AccessUnit[] {
  const units: AccessUnit[] = [];
  let pending: Buffer[] = [];
  let current: { nals: Buffer[]; keyframe: boolean } | undefined;
  const flush = () => {
    if (!current) return;
    const nalTypes = current.nals.map((n) => (n[0] ?? 0) & 0x1f);
    units.push({ data: Buffer.concat(current.nals.flatMap((n) => [START_CODE, n])), keyframe: current.keyframe, nalTypes });
    current = undefined;
  };
  for (const nal of splitNalUnits(annexb)) {
    const type = (nal[0] ?? 0) & 0x1f;
    if (type === 9) continue;
    if (type === 1 || type === 5) {
      // ue(v) first_mb_in_slice == 0 is a single 1 bit.
      const firstSlice = ((nal[1] ?? 0) & 0x80) !== 0;
      if (firstSlice || !current) {
        flush();
        current = { nals: pending, keyframe: false };
        pending = [];
      }
      current.nals.push(nal);
      if (type === 5) current.keyframe = true;
    } else {
      // SPS, PPS, SEI and the like open the next access unit.
      flush();
      pending.push(nal);
    }
  }
  flush();
  return units;
}

const toneCache = new Map<string, Promise<Buffer[]>>();

/**
 * Opus packets of a sine tone, 20 ms each at 48 kHz stereo, out of ffmpeg's Ogg (OpusHead/OpusTags skipped).
 * Cached per options within the process.
 */
export function encodeOpusTone(seconds = 6, frequency = 440): Promise<Buffer[]> {
  const key = `${seconds}/${frequency}`;
  let tone = toneCache.get(key);
  if (!tone) {
    tone = opusTone(seconds, frequency);
    tone.catch(() => toneCache.delete(key));
    toneCache.set(key, tone);
  }
  return tone;
}

async function opusTone(seconds: number, frequency: number): Promise<Buffer[]> {
  const ogg = await runFfmpeg([
    "-f", "lavfi",
    "-i", `sine=frequency=${frequency}:sample_rate=48000:duration=${seconds}`,
    "-ac", "2",
    "-c:a", "libopus",
    "-b:a", "64k",
    "-frame_duration", "20",
    "-application", "audio",
    "-f", "ogg",
    "pipe:1",
  ]);
  return oggPackets(ogg).filter((p) => !isOpusHeader(p));
}

function isOpusHeader(p: Buffer): boolean {
  const magic = p.subarray(0, 8).toString("latin1");
  return magic === "OpusHead" || magic === "OpusTags";
}

/** The packets of an Ogg stream (one logical stream), reassembled across pages from the lacing values. */
export function oggPackets(ogg: Buffer): Buffer[] {
  const packets: Buffer[] = [];
  let partial: Buffer[] = [];
  let pos = 0;
  while (pos + 27 <= ogg.length) {
    if (ogg.toString("latin1", pos, pos + 4) !== "OggS") throw new Error(`no Ogg page at byte ${pos}`);
    const segments = ogg[pos + 26] ?? 0;
    const table = ogg.subarray(pos + 27, pos + 27 + segments);
    let body = pos + 27 + segments;
    for (const lace of table) {
      partial.push(ogg.subarray(body, body + lace));
      body += lace;
      if (lace < 255) {
        packets.push(Buffer.concat(partial));
        partial = [];
      }
    }
    pos = body;
  }
  return packets;
}

/** NAL unit types carried by one H264 RTP payload (RFC 6184): single NAL, STAP-A contents, or a FU-A's start. */
export function h264PayloadNalTypes(payload: Buffer): number[] {
  const type = (payload[0] ?? 0) & 0x1f;
  if (type >= 1 && type <= 23) return [type];
  if (type === 24) {
    const types: number[] = [];
    let i = 1;
    while (i + 2 < payload.length) {
      const size = payload.readUInt16BE(i);
      types.push((payload[i + 2] ?? 0) & 0x1f);
      i += 2 + size;
    }
    return types;
  }
  if (type === 28) {
    const fu = payload[1] ?? 0;
    return (fu & 0x80) !== 0 ? [fu & 0x1f] : [];
  }
  return [];
}

export interface RtcpFeedback {
  pli: number;
  fir: number;
  nack: number;
}

/** Counts keyframe requests (PLI, FIR) and NACKs in an RTCP compound packet; other packets are skipped. */
export function rtcpFeedback(buf: Buffer): RtcpFeedback {
  const out: RtcpFeedback = { pli: 0, fir: 0, nack: 0 };
  let i = 0;
  while (i + 4 <= buf.length) {
    const b0 = buf[i] ?? 0;
    if (b0 >> 6 !== 2) break;
    const fmt = b0 & 0x1f;
    const pt = buf[i + 1] ?? 0;
    const words = buf.readUInt16BE(i + 2);
    if (pt === 206 && fmt === 1) out.pli++;
    else if (pt === 206 && fmt === 4) out.fir++;
    else if (pt === 205 && fmt === 1) out.nack++;
    i += (words + 1) * 4;
  }
  return out;
}

/** RTCP packet types sit where an RTP header has marker + payload type 72..79. */
export function isRtcp(buf: Buffer): boolean {
  const pt = buf[1] ?? 0;
  return buf.length >= 4 && pt >= 192 && pt <= 223;
}
