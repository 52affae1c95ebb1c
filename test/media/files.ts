// Reading the files the recorder writes (and ffmpeg encodes for the tests) back into frames and packets, and
// running ffmpeg/ffprobe on them.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { requireTool } from "../helpers/requireTool.ts";

const run = promisify(execFile);

export interface IvfFile {
  fourcc: string;
  width: number;
  height: number;
  timebase: number;
  length: number;
  frames: { pts: number; data: Buffer }[];
  /** Bytes after the last whole frame (a cut write). */
  trailing: number;
}

export function readIvf(buf: Buffer): IvfFile {
  if (buf.toString("ascii", 0, 4) !== "DKIF") throw new Error("not an IVF file");
  const headerSize = buf.readUInt16LE(6);
  const frames: IvfFile["frames"] = [];
  let at = headerSize;
  while (at + 12 <= buf.length) {
    const size = buf.readUInt32LE(at);
    const pts = buf.readUInt32LE(at + 4) + buf.readUInt32LE(at + 8) * 0x100000000;
    if (at + 12 + size > buf.length) break;
    frames.push({ pts, data: buf.subarray(at + 12, at + 12 + size) });
    at += 12 + size;
  }
  return {
    fourcc: buf.toString("ascii", 8, 12),
    width: buf.readUInt16LE(12),
    height: buf.readUInt16LE(14),
    timebase: buf.readUInt32LE(16) / buf.readUInt32LE(20),
    length: buf.readUInt32LE(24),
    frames,
    trailing: buf.length - at,
  };
}

export interface OggPacket {
  data: Buffer;
  /** Granule of the page on which the packet ends, when it is that page's last packet; else -1. */
  granule: bigint;
}

export interface OggPageInfo {
  flags: number;
  granule: bigint;
  serial: number;
  sequence: number;
  crc: number;
  segments: number[];
}

export function readOgg(buf: Buffer): { pages: OggPageInfo[]; packets: OggPacket[] } {
  const pages: OggPageInfo[] = [];
  const packets: OggPacket[] = [];
  let at = 0;
  let partial: Buffer[] = [];
  while (at + 27 <= buf.length) {
    if (buf.toString("ascii", at, at + 4) !== "OggS") throw new Error(`no capture pattern at ${at}`);
    const n = buf[at + 26] as number;
    const segments = [...buf.subarray(at + 27, at + 27 + n)];
    const page: OggPageInfo = {
      flags: buf[at + 5] as number,
      granule: buf.readBigInt64LE(at + 6),
      serial: buf.readUInt32LE(at + 14),
      sequence: buf.readUInt32LE(at + 18),
      crc: buf.readUInt32LE(at + 22),
      segments,
    };
    let body = at + 27 + n;
    const bodySize = segments.reduce((a, b) => a + b, 0);
    if (body + bodySize > buf.length) break;
    pages.push(page);
    const ends: number[] = [];
    segments.forEach((s, i) => {
      if (s < 255) ends.push(i);
    });
    for (let i = 0; i < segments.length; i++) {
      const s = segments[i] as number;
      partial.push(buf.subarray(body, body + s));
      body += s;
      if (s < 255) {
        packets.push({ data: Buffer.concat(partial), granule: i === ends[ends.length - 1] ? page.granule : -1n });
        partial = [];
      }
    }
    at = body;
  }
  return { pages, packets };
}

/** Splits an Annex-B stream into NAL units (without start codes). */
export function splitAnnexB(buf: Buffer): Buffer[] {
  const starts: { at: number; len: number }[] = [];
  for (let i = 0; i + 3 <= buf.length; i++) {
    if (buf[i] === 0 && buf[i + 1] === 0 && buf[i + 2] === 1) {
      const four = i > 0 && buf[i - 1] === 0;
      starts.push({ at: four ? i - 1 : i, len: four ? 4 : 3 });
      i += 2;
    }
  }
  return starts.map((s, k) => buf.subarray(s.at + s.len, k + 1 < starts.length ? (starts[k + 1] as { at: number }).at : buf.length));
}

/** Groups NAL units into access units, each starting at an access unit delimiter (encode with aud=1). */
export function h264AccessUnits(nals: Buffer[]): Buffer[][] {
  const aus: Buffer[][] = [];
  for (const nal of nals) {
    if (((nal[0] as number) & 0x1f) === 9 || aus.length === 0) aus.push([]);
    (aus[aus.length - 1] as Buffer[]).push(nal);
  }
  return aus;
}

/** Groups H265 NAL units into access units, each starting at an access unit delimiter (type 35; x265 aud=1). */
export function h265AccessUnits(nals: Buffer[]): Buffer[][] {
  const aus: Buffer[][] = [];
  for (const nal of nals) {
    if ((((nal[0] as number) >> 1) & 0x3f) === 35 || aus.length === 0) aus.push([]);
    (aus[aus.length - 1] as Buffer[]).push(nal);
  }
  return aus;
}

export interface ProbeStream {
  codec_name: string;
  codec_type: string;
  width?: number;
  height?: number;
  channels?: number;
  sample_rate?: string;
  nb_read_frames?: string;
  nb_read_packets?: string;
  duration?: string;
  start_time?: string;
}

export interface Probe {
  streams: ProbeStream[];
  format: { format_name: string; duration?: string; size?: string };
}

/** ffprobe decoding every frame (-count_frames): fails if the file does not decode. */
export async function ffprobe(file: string, opts: { countFrames?: boolean } = {}): Promise<Probe> {
  const args = ["-v", "error", "-print_format", "json", "-show_format", "-show_streams"];
  if (opts.countFrames !== false) args.push("-count_frames", "-count_packets");
  const { stdout } = await run(requireTool("ffprobe"), [...args, file], { maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout) as Probe;
}

/** Decodes the file and returns per-frame hashes of the decoded pictures or samples, plus any decoder errors. */
export async function decodedHashes(file: string, extraInput: string[] = []): Promise<{ hashes: string[]; errors: string }> {
  const { stdout, stderr } = await run(
    requireTool("ffmpeg"),
    ["-v", "error", ...extraInput, "-i", file, "-map", "0:0", "-f", "framemd5", "-"],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const hashes = stdout
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => l.split(",").pop()?.trim() ?? "");
  return { hashes, errors: stderr };
}

export const MEDIA_CACHE = join(tmpdir(), "roomcast-test-media-v1");

export type SourceKind = "vp8" | "vp9" | "av1" | "h264" | "h265" | "opus";

const ENCODE: Record<SourceKind, { file: string; args: string[] }> = {
  vp8: {
    file: "vp8.ivf",
    args: ["-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-g", "30", "-b:v", "400k", "-f", "ivf"],
  },
  vp9: {
    file: "vp9.ivf",
    args: ["-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-g", "30", "-b:v", "400k", "-f", "ivf"],
  },
  av1: {
    file: "av1.ivf",
    args: ["-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-pix_fmt", "yuv420p", "-c:v", "libaom-av1", "-usage", "realtime", "-cpu-used", "8", "-g", "30", "-b:v", "300k", "-f", "ivf"],
  },
  h264: {
    file: "h264.h264",
    args: [
      "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-profile:v", "baseline",
      "-preset", "ultrafast", "-tune", "zerolatency", "-bf", "0", "-g", "30", "-x264-params", "aud=1", "-f", "h264",
    ],
  },
  h265: {
    file: "h265.h265",
    // Like OBS's HEVC output for WHIP: no B-frames, a keyframe every second, VPS/SPS/PPS repeated before each.
    args: [
      "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-pix_fmt", "yuv420p", "-c:v", "libx265", "-preset", "ultrafast",
      "-x265-params", "keyint=30:min-keyint=30:bframes=0:scenecut=0:aud=1:repeat-headers=1:log-level=error", "-f", "hevc",
    ],
  },
  opus: {
    file: "opus.ogg",
    args: ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-ac", "2", "-c:a", "libopus", "-b:a", "64k", "-frame_duration", "20", "-f", "ogg"],
  },
};

/** Encodes (once per machine, cached in the temp folder) `seconds` of a test pattern or tone. */
export async function encodedSource(kind: SourceKind, seconds: number): Promise<string> {
  mkdirSync(MEDIA_CACHE, { recursive: true });
  const spec = ENCODE[kind];
  const key = createHash("sha1").update(JSON.stringify([spec, seconds])).digest("hex").slice(0, 10);
  const file = join(MEDIA_CACHE, `${seconds}s-${key}-${spec.file}`);
  if (existsSync(file)) return file;
  const tmp = `${file}.${process.pid}.tmp`;
  await run(requireTool("ffmpeg"), ["-v", "error", "-y", ...spec.args.slice(0, 4), "-t", String(seconds), ...spec.args.slice(4), tmp]);
  renameSync(tmp, file);
  return file;
}

export function readSource(file: string): Buffer {
  return readFileSync(file);
}
