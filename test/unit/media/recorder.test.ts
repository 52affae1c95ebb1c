// The recorder's I/O side on a real temporary folder: store listing and retention, track and session recorders,
// failures, the mkv remux with the installed ffmpeg.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../../src/config.ts";
import { ffmpegCandidates, resolveFfmpeg } from "../../../src/media/ffmpeg.ts";
import { CONTENT_TYPES, parseRecordName } from "../../../src/media/recorder/names.ts";
import { Recordings, type FinishedRecording } from "../../../src/media/recorder/recordings.ts";
import { alignTracks } from "../../../src/media/recorder/remux.ts";
import { RecordStore } from "../../../src/media/recorder/store.ts";
import { ntpToUnixMs, TrackRecorder, type TrackResult } from "../../../src/media/recorder/trackRecorder.ts";
import { Metrics } from "../../../src/metrics/metrics.ts";
import { decodedHashes, encodedSource, ffprobe, h265AccessUnits, readIvf, readOgg, readSource, splitAnnexB } from "../../media/files.ts";
import { TestTrack } from "../../media/fakeTrack.ts";
import { packetizeH265, packetizeVp8, toRtp } from "../../media/packetize.ts";

const root = mkdtempSync(join(tmpdir(), "roomcast-recorder-"));
let n = 0;
const freshDir = () => {
  const d = join(root, String(n++));
  mkdirSync(d);
  return d;
};

function logger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split("\n")) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: "info" }, stream), lines };
}

async function metricValue(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await metrics.registry.getSingleMetric(name)?.get();
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

/** 30 fps VP8 from the ffmpeg-encoded test pattern, as RTP. */
async function vp8Rtp(seconds = 2) {
  const ivf = readIvf(readSource(await encodedSource("vp8", seconds)));
  return toRtp(ivf.frames.map((f, i) => ({ payloads: packetizeVp8(f.data, i, 700), timestamp: 1000 + i * 3000 })));
}

/** 30 fps H265 (libx265, VPS/SPS/PPS before every IDR) as RTP; `strip` leaves the parameter sets out of the stream. */
async function h265Rtp(opts: { strip?: boolean } = {}) {
  const file = await encodedSource("h265", 2);
  const aus = h265AccessUnits(splitAnnexB(readSource(file)));
  const isParameterSet = (n: Buffer) => [32, 33, 34].includes(((n[0] as number) >> 1) & 0x3f);
  const sets = aus[0]?.filter(isParameterSet) ?? [];
  const frames = aus.map((au, i) => ({ payloads: packetizeH265(opts.strip ? au.filter((n) => !isParameterSet(n)) : au, 700), timestamp: 1000 + i * 3000 }));
  return { file, rtp: toRtp(frames, { ssrc: 77 }), sets };
}

async function opusRtp(seconds = 2) {
  const packets = readOgg(readSource(await encodedSource("opus", seconds))).packets.slice(2);
  return toRtp(packets.map((p, i) => ({ payloads: [p.data], timestamp: 5000 + i * 960 })), { marker: "none", ssrc: 99 });
}

describe("record names", () => {
  it("parse what the recorder writes and nothing else", () => {
    expect(parseRecordName("demo_video0_1710123456.ivf")).toEqual({ room: "demo", kind: "video", ext: "ivf", unixSeconds: 1710123456 });
    expect(parseRecordName("a_video0_1_audio1_1710123456-2.ogg")).toMatchObject({ room: "a_video0_1", kind: "audio" });
    expect(parseRecordName("my-room_1710123456.mkv")).toMatchObject({ room: "my-room", kind: "session" });
    expect(parseRecordName("demo_video1_1710123456.h265")).toEqual({ room: "demo", kind: "video", ext: "h265", unixSeconds: 1710123456 });
    expect(CONTENT_TYPES.h265).toBe("video/h265");
    for (const bad of ["demo_video0_1.hevc", "demo_video0_1.265", "../demo_video0_1.ivf", "demo_video0_1.txt", "de mo_video0_1.ivf", ".demo_1.mkv.mkv.tmp", "x/y_1.mkv", "demo.ivf"]) {
      expect(parseRecordName(bad)).toBeUndefined();
    }
  });
});

describe("RecordStore", () => {
  it("lists regular recording files only, newest first, and finds names only through the listing", async () => {
    const dir = freshDir();
    writeFileSync(join(dir, "r_video0_100.ivf"), "aaaa");
    writeFileSync(join(dir, "r_audio0_100.ogg"), "bb");
    writeFileSync(join(dir, "r_100.mkv"), "c");
    writeFileSync(join(dir, "notes.txt"), "not a recording");
    writeFileSync(join(dir, ".r_100.mkv.mkv.tmp"), "work file");
    mkdirSync(join(dir, "d_video0_1.ivf"));
    writeFileSync(join(root, "secret"), "outside");
    symlinkSync(join(root, "secret"), join(dir, "s_video0_1.ivf"));
    utimesSync(join(dir, "r_video0_100.ivf"), 1000, 1000);
    utimesSync(join(dir, "r_audio0_100.ogg"), 2000, 2000);
    utimesSync(join(dir, "r_100.mkv"), 3000, 3000);
    const store = new RecordStore(dir);
    store.begin("r_audio0_100.ogg");
    const list = await store.list();
    expect(list.map((r) => [r.name, r.size, r.inProgress, r.modTime])).toEqual([
      ["r_100.mkv", 1, false, "1970-01-01T00:50:00Z"],
      ["r_audio0_100.ogg", 2, true, "1970-01-01T00:33:20Z"],
      ["r_video0_100.ivf", 4, false, "1970-01-01T00:16:40Z"],
    ]);
    expect(list[0]).toMatchObject({ url: "/records/r_100.mkv", room: "r", kind: "session", contentType: "video/x-matroska" });
    for (const name of ["s_video0_1.ivf", "d_video0_1.ivf", "../secret", "notes.txt", join(dir, "r_100.mkv"), ".r_100.mkv.mkv.tmp"]) {
      expect(await store.find(name)).toBeUndefined();
    }
    expect(await store.remove("r_audio0_100.ogg")).toBe("in_progress");
    expect(await store.remove("r_video0_100.ivf")).toBe("deleted");
    expect(await store.remove("r_video0_100.ivf")).toBe("not_found");
    expect(await store.removeTempFiles()).toEqual([".r_100.mkv.mkv.tmp"]);
    expect(await new RecordStore(join(dir, "missing")).list()).toEqual([]);
  });

  it("sweeps by age, then the oldest while over the size limit, never a file in progress", async () => {
    const dir = freshDir();
    const files = ["a_video0_1.ivf", "a_audio0_1.ogg", "b_video0_2.ivf", "c_video0_3.ivf", "d_video0_4.ivf"];
    files.forEach((f, i) => {
      writeFileSync(join(dir, f), Buffer.alloc(100));
      utimesSync(join(dir, f), 1000 + i * 100, 1000 + i * 100);
    });
    const store = new RecordStore(dir);
    store.begin("a_video0_1.ivf");
    // Now = 1450 s: older than 250 s are a_video0 (in progress, kept) and a_audio0.
    // The file in progress still counts towards the 300 bytes.
    const deleted = await store.sweep({ maxAgeMs: 250_000, maxBytes: 300, now: 1_450_000 });
    expect(deleted).toEqual([
      { name: "a_audio0_1.ogg", size: 100, reason: "max_age" },
      { name: "b_video0_2.ivf", size: 100, reason: "max_bytes" },
    ]);
    expect(readdirSync(dir).sort()).toEqual(["a_video0_1.ivf", "c_video0_3.ivf", "d_video0_4.ivf"]);
  });
});

describe("TrackRecorder", () => {
  it("creates its file at the first key frame, writes decodable frames and finishes on close", async () => {
    const dir = freshDir();
    const metrics = new Metrics();
    const { log, lines } = logger();
    const track = new TestTrack("video", "video/VP8");
    const active: string[] = [];
    const rec = new TrackRecorder(track, {
      dir,
      name: "t_video0_1.ivf",
      log,
      metrics,
      onActive: (name, on) => active.push(`${on ? "+" : "-"}${name}`),
    });
    rec.start();
    expect(track.taps).toBe(1);
    const rtp = await vp8Rtp();
    // Start mid-GOP: frames before the second key frame are skipped, one key frame is asked for.
    const fromFrame5 = rtp.findIndex((p) => p.header.timestamp === 1000 + 5 * 3000);
    for (const p of rtp.slice(fromFrame5)) track.send(p);
    // The sink opens its file asynchronously (libuv's pool), so on a busy machine it appears a moment later.
    await vi.waitFor(() => expect(readdirSync(dir)).toEqual(["t_video0_1.ivf"]), { timeout: 2000, interval: 10 });
    expect(await metricValue(metrics, "roomcast_recordings_active")).toBe(1);
    const result = await rec.close();
    expect(track.taps).toBe(0);
    expect(result).toMatchObject({ name: "t_video0_1.ivf", kind: "video", ext: "ivf", frames: 30, error: undefined });
    expect(track.keyframeRequests).toBeGreaterThanOrEqual(1);
    const file = readFileSync(join(dir, "t_video0_1.ivf"));
    expect(result.bytes).toBe(file.length);
    const ivf = readIvf(file);
    expect([ivf.fourcc, ivf.width, ivf.height, ivf.frames.length, ivf.trailing]).toEqual(["VP80", 320, 240, 30, 0]);
    expect((await ffprobe(join(dir, "t_video0_1.ivf"))).streams[0]?.nb_read_frames).toBe("30");
    expect(active).toEqual(["+t_video0_1.ivf", "-t_video0_1.ivf"]);
    expect(await metricValue(metrics, "roomcast_recordings_active")).toBe(0);
    expect(await metricValue(metrics, "roomcast_record_bytes_total")).toBe(file.length);
    expect(await metricValue(metrics, "roomcast_record_frames_total", { kind: "video" })).toBe(30);
    expect(await metricValue(metrics, "roomcast_record_frames_dropped_total", { reason: "keyframe_wait" })).toBe(25);
    expect(lines.map((l) => l.msg)).toEqual(["recording started", "recording finished"]);
  });

  it("leaves no file when nothing recordable arrived", async () => {
    const dir = freshDir();
    const track = new TestTrack("audio", "audio/opus");
    const rec = new TrackRecorder(track, { dir, name: "t_audio0_1.ogg", log: logger().log, metrics: new Metrics(), onActive: () => undefined });
    rec.start();
    const result = await rec.close();
    expect(result.frames).toBe(0);
    expect(result.timing).toBeUndefined();
    expect(readdirSync(dir)).toEqual([]);
  });

  it("stops on an unwritable folder with a log line and a metric, and the track keeps flowing", async () => {
    const metrics = new Metrics();
    const { log, lines } = logger();
    const track = new TestTrack("audio", "audio/opus");
    const rec = new TrackRecorder(track, { dir: join(root, "missing", "dir"), name: "t_audio0_1.ogg", log, metrics, onActive: () => undefined });
    rec.start();
    const rtp = await opusRtp();
    for (const p of rtp.slice(0, 10)) track.send(p);
    await new Promise((r) => setTimeout(r, 50));
    for (const p of rtp.slice(10)) track.send(p); // nothing throws into the sender
    const result = await rec.close();
    expect(result.error).toBe("ENOENT");
    expect(rec.state).toBe("failed");
    expect(track.taps).toBe(0);
    expect(await metricValue(metrics, "roomcast_record_errors_total", { code: "ENOENT" })).toBe(1);
    expect(await metricValue(metrics, "roomcast_recordings_active")).toBe(0);
    const err = lines.find((l) => l.level === 50);
    expect(err?.msg).toMatch(/^recording stopped: .*forwarding continues$/);
    expect(err?.code).toBe("ENOENT");
  });

  it("drops frames (and waits for a key frame) while the disk lags behind", async () => {
    const dir = freshDir();
    const metrics = new Metrics();
    const track = new TestTrack("video", "video/VP8");
    const rec = new TrackRecorder(track, { dir, name: "b_video0_1.ivf", log: logger().log, metrics, onActive: () => undefined, maxBacklogBytes: -1 });
    rec.start();
    for (const p of await vp8Rtp()) track.send(p);
    const result = await rec.close();
    // The first frame opens the file; with no room for a backlog, every later one is dropped.
    expect(result.frames).toBe(1);
    expect(await metricValue(metrics, "roomcast_record_frames_dropped_total", { reason: "backlog" })).toBeGreaterThan(0);
    expect((await ffprobe(join(dir, "b_video0_1.ivf"))).streams[0]?.nb_read_frames).toBe("1");
  });

  it("places its first sample by RTCP sender reports when they are there", async () => {
    const dir = freshDir();
    const track = new TestTrack("audio", "audio/opus");
    let now = 1_000_000;
    const rec = new TrackRecorder(track, { dir, name: "s_audio0_1.ogg", log: logger().log, metrics: new Metrics(), onActive: () => undefined, now: () => now });
    rec.start();
    const rtp = await opusRtp();
    const ntpFor = (unixMs: number) => (BigInt(Math.floor(unixMs / 1000) + 2208988800) << 32n) | BigInt(Math.round(((unixMs % 1000) / 1000) * 2 ** 32));
    rtp.forEach((p, i) => {
      now = 1_000_000 + i * 20 + (i % 3) * 7; // arrival jitter
      if (i === 25) track.senderReport = { ntpTime: ntpFor(1_700_000_000_500), rtpTimestamp: 5000 + 25 * 960, receivedAt: now };
      track.send(p);
    });
    const result = await rec.close();
    expect(result.timing?.arrivalWallMs).toBe(1_000_000);
    expect(result.timing?.senderWallMs).toBeCloseTo(1_700_000_000_000, 0);
    expect(result.timing?.senderSkewMs?.count).toBe(1);
    expect(ntpToUnixMs(ntpFor(1_700_000_000_250))).toBeCloseTo(1_700_000_000_250, 3);
  });
});

describe("TrackRecorder, H265", () => {
  it("starts a stream that never sends VPS/SPS/PPS from the offer's sprop-vps/sps/pps, and the file decodes", async () => {
    const dir = freshDir();
    const { rtp, sets } = await h265Rtp({ strip: true });
    const [vps, sps, pps] = sets.map((n) => n.toString("base64"));
    const track = new TestTrack("video", "video/H265", { fmtp: `level-id=93;profile-id=1;sprop-vps=${vps};sprop-sps=${sps};sprop-pps=${pps};tx-mode=SRST` });
    const rec = new TrackRecorder(track, { dir, name: "s_video0_1.h265", log: logger().log, metrics: new Metrics(), onActive: () => undefined });
    rec.start();
    for (const p of rtp) track.send(p);
    const result = await rec.close();
    expect(result).toMatchObject({ ext: "h265", frames: 60, error: undefined });
    const probe = await ffprobe(join(dir, "s_video0_1.h265"), { countFrames: true });
    expect(probe.streams.map((s) => [s.codec_name, s.width, s.height, s.nb_read_frames])).toEqual([["hevc", 320, 240, "60"]]);
    expect((await decodedHashes(join(dir, "s_video0_1.h265"))).errors).toBe("");
  });

  it("without parameter sets anywhere, writes nothing (no keyframe ever) and asks for one", async () => {
    const dir = freshDir();
    const { rtp } = await h265Rtp({ strip: true });
    const track = new TestTrack("video", "video/H265");
    const rec = new TrackRecorder(track, { dir, name: "n_video0_1.h265", log: logger().log, metrics: new Metrics(), onActive: () => undefined });
    rec.start();
    for (const p of rtp) track.send(p);
    expect(await rec.close()).toMatchObject({ frames: 0, bytes: 0 });
    expect(readdirSync(dir)).toEqual([]);
    expect(track.keyframeRequests).toBeGreaterThanOrEqual(1);
  });
});

describe("alignTracks", () => {
  const track = (name: string, arrival: number, sender?: number, skew?: [number, number]): TrackResult => ({
    name,
    path: name,
    kind: "video",
    ext: "ivf",
    frames: 1,
    bytes: 1,
    error: undefined,
    index: undefined,
    timing: {
      clockRate: 90000,
      arrivalWallMs: arrival,
      senderWallMs: sender,
      senderSkewMs: skew ? { min: skew[0], max: skew[1], count: 3 } : undefined,
    },
  });

  it("uses sender reports when every track has consistent ones", () => {
    const r = alignTracks([track("v", 5000, 1000, [10, 20]), track("a", 5100, 1250, [12, 25])]);
    expect(r.alignment).toBe("sender-reports");
    expect(r.offsets.map((o) => o.offsetSec)).toEqual([0, 0.25]);
  });

  it("falls back to arrival times when a track has none, or the reports disagree", () => {
    expect(alignTracks([track("v", 5000, 1000, [10, 20]), track("a", 5100)]).alignment).toBe("arrival");
    const spread = alignTracks([track("v", 5000, 1000, [10, 500]), track("a", 5100, 1250, [12, 25])]);
    expect(spread.alignment).toBe("arrival");
    expect(spread.offsets.map((o) => o.offsetSec)).toEqual([0, 0.1]);
    expect(alignTracks([track("v", 5000, 1000, [10, 20]), track("a", 5100, 1250, [400, 420])]).alignment).toBe("arrival");
  });
});

describe("ffmpeg resolution", () => {
  it("tries ffmpeg-static's binary, then FFMPEG_PATH, then PATH", () => {
    expect(ffmpegCandidates({ ffmpegPath: "/opt/ff", staticPath: "/nm/ffmpeg" }).map((c) => c.source)).toEqual(["ffmpeg-static", "FFMPEG_PATH", "PATH"]);
    expect(ffmpegCandidates({ ffmpegPath: undefined, staticPath: undefined })).toEqual([{ path: "ffmpeg", source: "PATH" }]);
  });

  it("skips a FFMPEG_PATH that does not run", async () => {
    const bin = await resolveFfmpeg({ ffmpegPath: "/nonexistent/ffmpeg" });
    expect(bin?.source).not.toBe("FFMPEG_PATH");
    expect(bin?.version).toMatch(/^ffmpeg version/);
  });
});

describe("Recordings", () => {
  it("records a session's tracks, remuxes them into one mkv, and retention keeps the folder under its limit", async () => {
    const dir = freshDir();
    writeFileSync(join(dir, "old_video0_1.ivf"), Buffer.alloc(400_000));
    utimesSync(join(dir, "old_video0_1.ivf"), 1, 1);
    const config = loadConfig({ RECORD_ENABLED: "true", RECORD_DIR: dir, RECORD_MAX_BYTES: "300K" });
    const metrics = new Metrics();
    const { log, lines } = logger();
    const finished: FinishedRecording[] = [];
    const recordings = new Recordings({ config, metrics, log, onFinished: (f) => finished.push(f) }, { now: () => 1_750_000_000_000 });
    expect(await recordings.start()).toEqual({ writable: true });
    expect(readdirSync(dir)).toEqual([]); // the old file alone was over the limit
    const video = new TestTrack("video", "video/VP8");
    const audio = new TestTrack("audio", "audio/opus", { fmtp: "minptime=10;useinbandfec=1;stereo=1" });
    // Every codec roomcast forwards is recorded; one it could not would be left out with a warning.
    const unknown = new TestTrack("video", "video/H266", { index: 1 });
    const session = recordings.startSession("room", [video, audio, unknown], log);
    expect(session?.files).toEqual(["room_video0_1750000000.ivf", "room_audio0_1750000000.ogg"]);
    const second = recordings.startSession("room", [new TestTrack("video", "video/VP8")], log);
    expect(second?.files).toEqual(["room_video0_1750000000-2.ivf"]);
    second?.close();
    const [v, a] = await Promise.all([vp8Rtp(), opusRtp()]);
    for (let i = 0; i < Math.max(v.length, a.length); i++) {
      if (v[i]) video.send(v[i] as (typeof v)[number]);
      if (a[i]) audio.send(a[i] as (typeof a)[number]);
    }
    session?.close();
    await recordings.close(10_000);
    const names = readdirSync(dir).sort();
    expect(names).toEqual(["room_1750000000.mkv", "room_audio0_1750000000.ogg", "room_video0_1750000000.ivf"]);
    const mkv = await ffprobe(join(dir, "room_1750000000.mkv"));
    expect(mkv.streams.map((s) => [s.codec_name, s.nb_read_frames])).toEqual([
      ["vp8", "60"],
      ["opus", String(a.length)],
    ]);
    expect(mkv.streams[1]?.channels).toBe(2);
    // Each final file is announced (the recording.finished webhook) with its size and duration; the second session
    // got no media, so it has no file and no event. The mkv comes last, once it is renamed into place.
    const size = (name: string) => statSync(join(dir, name)).size;
    expect(finished).toEqual([
      { room: "room", file: "room_video0_1750000000.ivf", size: size("room_video0_1750000000.ivf"), kind: "video", durationSec: expect.closeTo(59 / 30, 1) },
      { room: "room", file: "room_audio0_1750000000.ogg", size: size("room_audio0_1750000000.ogg"), kind: "audio", durationSec: expect.any(Number) },
      { room: "room", file: "room_1750000000.mkv", size: size("room_1750000000.mkv"), kind: "session", durationSec: expect.any(Number) },
    ]);
    expect(finished[1]?.durationSec).toBeGreaterThan(0);
    expect(await metricValue(metrics, "roomcast_record_remux_total", { result: "ok" })).toBe(1);
    expect(await metricValue(metrics, "roomcast_record_files_deleted_total", { reason: "max_bytes" })).toBe(1);
    expect(lines.some((l) => l.msg === "track not recorded: no file format for this codec")).toBe(true);
    expect(recordings.startSession("room", [video], log)).toBeUndefined(); // closed
  });

  it("records H265 (OBS's HEVC) to Annex-B .h265 and remuxes it with Opus into the mkv, frames at their times", async () => {
    const dir = freshDir();
    const config = loadConfig({ RECORD_ENABLED: "true", RECORD_DIR: dir });
    const metrics = new Metrics();
    const { log } = logger();
    const recordings = new Recordings({ config, metrics, log }, { now: () => 1_750_000_100_000 });
    await recordings.start();
    const video = new TestTrack("video", "video/H265");
    const audio = new TestTrack("audio", "audio/opus");
    const session = recordings.startSession("hevc", [video, audio], log);
    expect(session?.files).toEqual(["hevc_video0_1750000100.h265", "hevc_audio0_1750000100.ogg"]);
    const [{ file, rtp: v }, a] = await Promise.all([h265Rtp(), opusRtp()]);
    // One second of no video after frame 29 (frames 30..59 sent 1 s late): the mkv keeps the gap, audio stays put.
    for (const p of v) if (p.header.timestamp >= 1000 + 30 * 3000) p.header.timestamp += 90_000;
    for (let i = 0; i < Math.max(v.length, a.length); i++) {
      if (v[i]) video.send(v[i] as (typeof v)[number]);
      if (a[i]) audio.send(a[i] as (typeof a)[number]);
    }
    session?.close();
    await recordings.close(10_000);
    expect(readdirSync(dir).sort()).toEqual(["hevc_1750000100.mkv", "hevc_audio0_1750000100.ogg", "hevc_video0_1750000100.h265"]);
    // The .h265 is the encoder's NAL units, byte for byte, each after a 4-byte start code (x265 writes some with 3);
    // it repeats its parameter sets, so nothing is inserted.
    const fourByte = Buffer.concat(splitAnnexB(readSource(file)).flatMap((n) => [Buffer.from([0, 0, 0, 1]), n]));
    expect(readFileSync(join(dir, "hevc_video0_1750000100.h265")).equals(fourByte)).toBe(true);
    const raw = await ffprobe(join(dir, "hevc_video0_1750000100.h265"), { countFrames: true });
    expect(raw.streams.map((s) => [s.codec_name, s.width, s.height, s.nb_read_frames])).toEqual([["hevc", 320, 240, "60"]]);
    const mkv = await ffprobe(join(dir, "hevc_1750000100.mkv"), { countFrames: true });
    expect(mkv.streams.map((s) => [s.codec_name, s.nb_read_frames])).toEqual([
      ["hevc", "60"],
      ["opus", String(a.length)],
    ]);
    expect([mkv.streams[0]?.width, mkv.streams[0]?.height]).toEqual([320, 240]);
    // 60 frames at 30 fps plus the 1 s gap: 3 s of video.
    expect(Number(mkv.format.duration)).toBeCloseTo(3, 1);
    const decoded = await decodedHashes(join(dir, "hevc_1750000100.mkv"));
    expect(decoded.errors).toBe("");
    expect(await metricValue(metrics, "roomcast_record_remux_total", { result: "ok" })).toBe(1);
  });

  it("says at start when RECORD_DIR is not writable, and does not throw", async () => {
    const file = join(freshDir(), "a-file");
    writeFileSync(file, "x");
    const config = loadConfig({ RECORD_ENABLED: "true", RECORD_DIR: join(file, "recordings") });
    const metrics = new Metrics();
    const { log, lines } = logger();
    const recordings = new Recordings({ config, metrics, log }, { remux: false });
    expect(await recordings.start()).toEqual({ writable: false });
    const err = lines.find((l) => l.level === 50);
    expect(err?.msg).toMatch(/^RECORD_DIR .* is not writable \(ENOTDIR\)/);
    expect(await metricValue(metrics, "roomcast_record_errors_total", { code: "ENOTDIR" })).toBe(1);
    await recordings.close(100);
  });
});
