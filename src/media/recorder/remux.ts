// One .mkv per session from its track files, by ffmpeg without re-encoding. Tracks are lined up by the wall clock
// of their first sample: the sender's (RTCP sender reports) when every track has one, else ours (arrival times).
// H264 and H265 have no timestamps in Annex-B, so they are handed to ffmpeg with the recorded frame times: H264
// wrapped in IVF, H265 in MPEG-TS (ffmpeg's IVF reader does not know HEVC).
import { open, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../../log.ts";
import { ivfHeader, IVF_FRAME_HEADER_SIZE } from "../container/ivf.ts";
import { MpegTsWriter } from "../container/mpegts.ts";
import { runFfmpeg } from "../ffmpeg.ts";
import { tempFileName } from "./names.ts";
import type { TrackResult } from "./trackRecorder.ts";

export type Alignment = "sender-reports" | "arrival";

export interface TrackOffset {
  track: TrackResult;
  offsetSec: number;
}

/** How far sender-vs-our clock readings may spread before the sender's reports are not believed. */
const MAX_SKEW_SPREAD_MS = 100;

/** Whether every track's sender reports exist and tell one consistent story. */
function senderReportsUsable(timed: readonly TrackResult[]): boolean {
  let lo = Infinity;
  let hi = -Infinity;
  for (const t of timed) {
    const skew = t.timing?.senderSkewMs;
    if (t.timing?.senderWallMs === undefined || !skew) return false;
    if (skew.max - skew.min > MAX_SKEW_SPREAD_MS) return false;
    lo = Math.min(lo, skew.min);
    hi = Math.max(hi, skew.max);
  }
  // One sender, one clock: its audio and video reports must agree with each other too.
  return timed.length > 0 && hi - lo <= MAX_SKEW_SPREAD_MS;
}

/** Start offsets relative to the earliest track. Tracks without timing (nothing written) are left out. */
export function alignTracks(tracks: readonly TrackResult[]): { alignment: Alignment; offsets: TrackOffset[] } {
  const timed = tracks.filter((t) => t.timing !== undefined);
  const bySender = senderReportsUsable(timed);
  const start = (t: TrackResult) => (bySender ? (t.timing?.senderWallMs as number) : (t.timing?.arrivalWallMs as number));
  const first = Math.min(...timed.map(start));
  return {
    alignment: bySender ? "sender-reports" : "arrival",
    offsets: timed.map((track) => ({ track, offsetSec: Math.max(0, (start(track) - first) / 1000) })),
  };
}

/** Writes `track`'s Annex-B file as IVF with fourcc H264 (ffmpeg's IVF demuxer takes it) next to it. */
async function wrapH264(track: TrackResult, dir: string): Promise<string> {
  const index = track.index;
  if (!index || index.overflowed || index.length === 0) throw new Error("no frame index for the H264 file");
  const out = join(dir, tempFileName(track.name, "ivf"));
  const src = await open(track.path, "r");
  const dst = await open(out, "w", 0o600);
  try {
    const first = (index.at(0) as { timestamp: number }).timestamp;
    await dst.write(ivfHeader("H264", 0, 0, 90000, 0));
    for (let i = 0; i < index.length; i++) {
      const f = index.at(i) as { offset: number; size: number; timestamp: number };
      const rec = Buffer.allocUnsafe(IVF_FRAME_HEADER_SIZE + f.size);
      const pts = f.timestamp - first;
      rec.writeUInt32LE(f.size, 0);
      rec.writeUInt32LE(pts % 0x100000000, 4);
      rec.writeUInt32LE(Math.floor(pts / 0x100000000), 8);
      const { bytesRead } = await src.read(rec, IVF_FRAME_HEADER_SIZE, f.size, f.offset);
      if (bytesRead !== f.size) throw new Error("H264 file is shorter than its index");
      await dst.write(rec);
    }
  } finally {
    await src.close();
    await dst.close();
  }
  return out;
}

/** Writes `track`'s H265 Annex-B file as MPEG-TS, each access unit at its recorded time, next to it. */
async function wrapH265(track: TrackResult, dir: string): Promise<string> {
  const index = track.index;
  if (!index || index.overflowed || index.length === 0) throw new Error("no frame index for the H265 file");
  const out = join(dir, tempFileName(track.name, "ts"));
  const src = await open(track.path, "r");
  const dst = await open(out, "w", 0o600);
  try {
    const ts = new MpegTsWriter("h265");
    const first = (index.at(0) as { timestamp: number }).timestamp;
    await dst.write(ts.header());
    for (let i = 0; i < index.length; i++) {
      const f = index.at(i) as { offset: number; size: number; timestamp: number };
      const data = Buffer.allocUnsafe(f.size);
      const { bytesRead } = await src.read(data, 0, f.size, f.offset);
      if (bytesRead !== f.size) throw new Error("H265 file is shorter than its index");
      await dst.write(ts.frame(data, f.timestamp - first));
    }
  } finally {
    await src.close();
    await dst.close();
  }
  return out;
}

export interface RemuxOptions {
  ffmpeg: string;
  dir: string;
  tracks: readonly TrackResult[];
  /** Final file name inside dir. */
  output: string;
  timeoutMs: number;
  signal?: AbortSignal;
  log: Logger;
}

export type RemuxResult = { ok: true; alignment: Alignment; offsets: Record<string, number> } | { ok: false; reason: string };

export async function remuxSession(opts: RemuxOptions): Promise<RemuxResult> {
  const { alignment, offsets } = alignTracks(opts.tracks);
  if (offsets.length === 0) return { ok: false, reason: "no track has media" };
  const temps: string[] = [];
  const tmpOut = join(opts.dir, tempFileName(opts.output, "mkv"));
  try {
    const args = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y"];
    for (const { track, offsetSec } of offsets) {
      let input = track.path;
      const format = track.ext === "ogg" ? "ogg" : track.ext === "h265" ? "mpegts" : "ivf";
      if (track.ext === "h264" || track.ext === "h265") {
        input = await (track.ext === "h264" ? wrapH264(track, opts.dir) : wrapH265(track, opts.dir));
        temps.push(input);
      }
      args.push("-itsoffset", offsetSec.toFixed(3), "-f", format, "-i", input);
    }
    offsets.forEach((_, i) => args.push("-map", String(i)));
    args.push("-c", "copy", "-f", "matroska", tmpOut);
    const r = await runFfmpeg(opts.ffmpeg, args, { timeoutMs: opts.timeoutMs, signal: opts.signal });
    if (r.code !== 0) {
      const why = r.timedOut ? `timed out after ${opts.timeoutMs} ms` : opts.signal?.aborted ? "stopped (shutting down)" : `ffmpeg exited with ${r.code ?? r.signal}`;
      return { ok: false, reason: `${why}${r.stderr ? `: ${r.stderr.split("\n").slice(-3).join(" | ")}` : ""}` };
    }
    await rename(tmpOut, join(opts.dir, opts.output));
    return { ok: true, alignment, offsets: Object.fromEntries(offsets.map((o) => [o.track.name, o.offsetSec])) };
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  } finally {
    for (const t of [...temps, tmpOut]) await unlink(t).catch(() => undefined);
  }
}
