// Recording file names: `{room}_{kind}{index}_{unixSeconds}.{ext}` per track (the reference's example
// demo_video0_1710123456.ivf) and `{room}_{unixSeconds}.mkv` per session. A second session of a room within the
// same second gets `-2`, `-3` after the seconds. Only names of these shapes are ever listed, served or deleted.
import { ROOM_NAME } from "../../config.ts";

export type TrackExt = "ivf" | "ogg" | "h264" | "h265";
export type RecordExt = TrackExt | "mkv";

export const CONTENT_TYPES: Record<RecordExt, string> = {
  ivf: "video/x-ivf",
  ogg: "audio/ogg",
  h264: "video/h264",
  // RFC 7798's media type; browsers and players do not sniff it, so a download is what it gets.
  h265: "video/h265",
  mkv: "video/x-matroska",
};

export interface ParsedRecordName {
  room: string;
  /** "session" for the remuxed mkv. */
  kind: "audio" | "video" | "session";
  ext: RecordExt;
  unixSeconds: number;
}

const TRACK = /^(.+)_(audio|video)(\d{1,3})_(\d{1,12})(?:-\d{1,4})?\.(ivf|ogg|h264|h265)$/;
const SESSION = /^(.+)_(\d{1,12})(?:-\d{1,4})?\.mkv$/;

export function parseRecordName(name: string): ParsedRecordName | undefined {
  const t = TRACK.exec(name);
  if (t) {
    const room = t[1] as string;
    if (!ROOM_NAME.test(room)) return undefined;
    return { room, kind: t[2] as "audio" | "video", ext: t[5] as TrackExt, unixSeconds: Number(t[4]) };
  }
  const s = SESSION.exec(name);
  if (s) {
    const room = s[1] as string;
    if (!ROOM_NAME.test(room)) return undefined;
    return { room, kind: "session", ext: "mkv", unixSeconds: Number(s[2]) };
  }
  return undefined;
}

export function trackFileName(room: string, kind: "audio" | "video", index: number, stem: string, ext: TrackExt): string {
  return `${room}_${kind}${index}_${stem}.${ext}`;
}

export function sessionFileName(room: string, stem: string): string {
  return `${room}_${stem}.mkv`;
}

/** Work files (the remux's output before its rename, H264/H265 wrapped for ffmpeg) are hidden: never listed or served. */
export function tempFileName(final: string, what: string): string {
  return `.${final}.${what}.tmp`;
}

export function isTempFileName(name: string): boolean {
  return name.startsWith(".") && name.endsWith(".tmp");
}
