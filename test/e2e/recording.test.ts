// Recording against the real server process: werift publishing real VP8 + Opus (ffmpeg-encoded, crossing both
// wrap points), libdatachannel publishing H264 + Opus like OBS, then ffprobe decoding every file; the records API
// with Range and DELETE rules over real HTTP (raw paths for traversal); and the endings a file must survive:
// kill -9, SIGTERM, an unwritable RECORD_DIR, a full disk.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodedHashes, ffprobe, readIvf, readOgg } from "../media/files.ts";
import { requireTool } from "../helpers/requireTool.ts";
import { closeAndDelete, launchChromium, openServerPage, publishFromPage } from "./helpers/browser.ts";
import { obsPublish } from "./helpers/obsClient.ts";
import { sendRealMedia } from "./helpers/realMedia.ts";
import { startServer, waitFor, waitRoomConnected, type ServerHandle } from "./helpers/server.ts";
import { play, publish } from "./helpers/weriftPeers.ts";

requireTool("ffmpeg");
requireTool("ffprobe");

const ADMIN = "admin-secret";
/** Other test files run beside this one on two cores (transcoding, Chromium): give connections time. */
const CONNECT_MS = 25_000;
const auth = { Authorization: `Bearer ${ADMIN}` };

interface Listed {
  name: string;
  size: number;
  modTime: string;
  url: string;
  room: string;
  kind: string;
  inProgress: boolean;
}

async function records(server: ServerHandle, room?: string): Promise<Listed[]> {
  const res = await fetch(`${server.url}/api/records${room ? `?room=${room}` : ""}`, { headers: auth });
  expect(res.status).toBe(200);
  return (await res.json()) as Listed[];
}

/** GET with the path sent exactly as written (fetch would normalize `..` away before it leaves). */
function rawGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method: "GET", headers: auth }, (res) => {
      let body = "";
      res.setEncoding("latin1");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function metric(server: ServerHandle, name: string, labels = ""): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ""} `));
  return line ? Number(line.split(" ").pop()) : 0;
}

const probeFrames = async (file: string) => Number((await ffprobe(file)).streams[0]?.nb_read_frames ?? 0);

describe("recording a room", () => {
  let server: ServerHandle;
  let dir: string;
  beforeAll(async () => {
    server = await startServer({ RECORD_ENABLED: "true", RECORD_DIR: "rec", ADMIN_TOKEN: ADMIN });
    dir = join(server.cwd, "rec");
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("VP8 + Opus: files ffprobe decodes, listed with exact sizes, served whole and by Range, deleted by the admin", async () => {
    const pub = await publish(server.url, "vp8room", { token: ADMIN, connectTimeoutMs: CONNECT_MS });
    // 2.4 s of real media (72 frames), sequence numbers and timestamps crossing their wrap points on the way.
    const sending = sendRealMedia(pub, { video: "vp8", seconds: 2.4, startSeq: 65_450, startTimestamp: 0xffffffff - 90_000 });

    // While it records: both files are listed in progress, and cannot be deleted.
    const live = await waitFor(async () => {
      const list = await records(server, "vp8room");
      return list.length === 2 && list.every((r) => r.inProgress) ? list : undefined;
    }, 8000, "two files in progress");
    const del = await fetch(`${server.url}/api/records/${live[0]?.name}`, { method: "DELETE", headers: auth });
    expect(del.status).toBe(409);
    const sent = await sending;
    await pub.close();

    const done = await waitFor(async () => {
      const list = await records(server, "vp8room");
      return list.length === 3 && list.every((r) => !r.inProgress) ? list : undefined;
    }, 10_000, "files finished and the mkv remuxed");
    const byExt = (ext: string) => done.find((r) => r.name.endsWith(ext)) as Listed;
    const stem = byExt(".mkv").name.replace(/^vp8room_/, "").replace(/\.mkv$/, "");
    expect(done.map((r) => r.name).sort()).toEqual([`vp8room_${stem}.mkv`, `vp8room_audio0_${stem}.ogg`, `vp8room_video0_${stem}.ivf`]);
    for (const r of done) {
      expect(r.size).toBe(statSync(join(dir, r.name)).size);
      expect(r.url).toBe(`/records/${r.name}`);
      expect(r.modTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    }

    // The frames sent are in the IVF and decode. Loopback loses nothing and werift repairs by NACK; should a
    // packet still go missing on a loaded machine, the rest of its GOP (30 frames) is dropped, never written broken.
    const ivfPath = join(dir, byExt(".ivf").name);
    const ivf = readIvf(readFileSync(ivfPath));
    expect([ivf.fourcc, ivf.width, ivf.height, ivf.trailing]).toEqual(["VP80", 320, 240, 0]);
    expect(ivf.frames.length).toBeGreaterThanOrEqual(sent.videoFrames - 30);
    expect(ivf.frames.length).toBeLessThanOrEqual(sent.videoFrames);
    const video = await ffprobe(ivfPath);
    expect(video.streams[0]).toMatchObject({ codec_name: "vp8", nb_read_frames: String(ivf.frames.length) });
    expect(Number(video.format.duration)).toBeCloseTo(2.4, 1);
    expect((await decodedHashes(ivfPath)).errors).toBe("");

    // The audio keeps its true length whatever was lost (gaps are filled), and stays stereo.
    const oggPath = join(dir, byExt(".ogg").name);
    const audio = await ffprobe(oggPath);
    expect(audio.streams[0]).toMatchObject({ codec_name: "opus", channels: 2, sample_rate: "48000" });
    expect(Number(audio.format.duration)).toBeCloseTo((sent.audioPackets * 960) / 48000, 1);
    expect(readOgg(readFileSync(oggPath)).pages.at(-1)?.flags).toBe(0x04);

    const mkv = await ffprobe(join(dir, byExt(".mkv").name));
    expect(mkv.streams.map((s) => s.codec_name)).toEqual(["vp8", "opus"]);
    expect(mkv.streams[0]?.nb_read_frames).toBe(String(ivf.frames.length));
    expect(Number(mkv.format.duration)).toBeCloseTo(2.4, 0);
    // Both streams started together, so they start together in the mkv. (werift's sender reports carry no NTP
    // fraction; the server notices their spread and aligns by arrival, unless a short session left too few to tell.)
    const starts = mkv.streams.map((s) => Number(s.start_time));
    expect(Math.abs((starts[0] as number) - (starts[1] as number))).toBeLessThan(0.15);

    // Downloads: the whole file, a Range, a suffix Range, past the end, HEAD.
    const file = readFileSync(ivfPath);
    const url = `${server.url}/records/${byExt(".ivf").name}`;
    const whole = await fetch(url, { headers: auth });
    expect(whole.status).toBe(200);
    expect(whole.headers.get("content-type")).toBe("video/x-ivf");
    expect(whole.headers.get("accept-ranges")).toBe("bytes");
    expect(whole.headers.get("content-length")).toBe(String(file.length));
    expect(Buffer.from(await whole.arrayBuffer())).toEqual(file);
    const part = await fetch(url, { headers: { ...auth, Range: "bytes=32-1055" } });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe(`bytes 32-1055/${file.length}`);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(file.subarray(32, 1056));
    const tail = await fetch(url, { headers: { ...auth, Range: "bytes=-100" } });
    expect(Buffer.from(await tail.arrayBuffer())).toEqual(file.subarray(file.length - 100));
    const past = await fetch(url, { headers: { ...auth, Range: `bytes=${file.length}-` } });
    expect(past.status).toBe(416);
    const head = await fetch(url, { method: "HEAD", headers: auth });
    expect([head.status, head.headers.get("content-length")]).toEqual([200, String(file.length)]);
    const mkvRes = await fetch(`${server.url}/records/${byExt(".mkv").name}?token=${ADMIN}`, { headers: { Range: "bytes=0-3" } });
    expect([mkvRes.status, mkvRes.headers.get("content-type")]).toEqual([206, "video/x-matroska"]);
    expect(Buffer.from(await mkvRes.arrayBuffer())).toEqual(Buffer.from([0x1a, 0x45, 0xdf, 0xa3])); // EBML magic

    // Nothing outside RECORD_DIR, however the name is spelled.
    writeFileSync(join(server.cwd, "x_video0_1.ivf"), "outside the recordings folder");
    for (const path of [
      "/records/../x_video0_1.ivf",
      "/records/..%2Fx_video0_1.ivf",
      "/records/%2e%2e%2fx_video0_1.ivf",
      "/records/..%2F..%2F..%2Fetc%2Fpasswd",
      "/records/%2Fetc%2Fpasswd",
      `/records/${encodeURIComponent(join(server.cwd, "x_video0_1.ivf"))}`,
      "/records//etc/passwd",
      "/records/rec%2F..%2Fx_video0_1.ivf",
    ]) {
      const res = await rawGet(server.port, path);
      expect([path, res.status]).toEqual([path, 404]);
      expect(res.body).not.toContain("outside the recordings folder");
    }

    // DELETE: the admin token only; then it is gone.
    const name = byExt(".ivf").name;
    expect((await fetch(`${server.url}/api/records/${name}`, { method: "DELETE" })).status).toBe(401);
    expect((await fetch(`${server.url}/api/records/${name}`, { method: "DELETE", headers: auth })).status).toBe(200);
    expect(readdirSync(dir)).not.toContain(name);
    expect((await fetch(`${server.url}/api/records/${name}`, { method: "DELETE", headers: auth })).status).toBe(404);
    expect(await metric(server, "roomcast_record_frames_total", 'kind="video"')).toBe(ivf.frames.length);
    expect(await metric(server, "roomcast_recordings_active")).toBe(0);
  });

  it("Chromium VP8 + Opus: over 100 frames and the true duration", async () => {
    const browser = await launchChromium();
    try {
      const page = await openServerPage(browser, server.url);
      const pub = await publishFromPage(page, server.url, "chromium", { codec: "VP8", token: ADMIN });
      expect(pub.unsupported).toBeUndefined();
      // Recording starts at the first key frame. A loaded machine makes Chromium drop its frame rate, so wait for
      // the frames rather than for a time.
      const files = await waitFor(async () => {
        const list = await records(server, "chromium");
        return list.length === 2 ? list : undefined;
      }, 10_000, "both files started");
      const started = Date.now();
      const ivfName = files.find((r) => r.name.endsWith(".ivf"))?.name as string;
      await waitFor(() => readIvf(readFileSync(join(dir, ivfName))).frames.length >= 105, 15_000, "105 VP8 frames on disk");
      expect(await closeAndDelete(page, { token: ADMIN })).toBe(200);
      const elapsed = (Date.now() - started) / 1000;
      const done = await waitFor(async () => {
        const list = await records(server, "chromium");
        return list.length === 3 && list.every((r) => !r.inProgress) ? list : undefined;
      }, 10_000, "Chromium session finished");
      const ivf = await ffprobe(join(dir, done.find((r) => r.name.endsWith(".ivf"))?.name as string));
      expect(ivf.streams[0]).toMatchObject({ codec_name: "vp8", width: 640, height: 360 });
      expect(Number(ivf.streams[0]?.nb_read_frames)).toBeGreaterThanOrEqual(100);
      const ogg = await ffprobe(join(dir, done.find((r) => r.name.endsWith(".ogg"))?.name as string));
      expect(ogg.streams[0]).toMatchObject({ codec_name: "opus", sample_rate: "48000" });
      // The audio file spans the session: what was recorded before the timer started, plus the wait.
      expect(Number(ogg.format.duration)).toBeGreaterThanOrEqual(elapsed - 0.3);
      expect(Number(ogg.format.duration)).toBeLessThan(elapsed + 3);
      expect(Math.abs(Number(ogg.format.duration) - Number(ivf.format.duration))).toBeLessThan(1);
    } finally {
      await browser.close();
    }
  });

  it("H264 + Opus from libdatachannel (as OBS sends): an Annex-B file ffprobe decodes as H264, and an aligned mkv", async () => {
    const obs = await obsPublish(server.url, "obsroom", {
      token: ADMIN,
      width: 320,
      height: 240,
      keyframeIntervalSec: 1,
      connectTimeoutMs: CONNECT_MS,
    });
    await waitFor(() => obs.framesSent >= 75, 10_000, "2.5 s of H264 sent");
    const framesSent = obs.framesSent;
    await obs.close();
    const done = await waitFor(async () => {
      const list = await records(server, "obsroom");
      return list.length === 3 && list.every((r) => !r.inProgress) ? list : undefined;
    }, 10_000, "H264 session finished");
    const h264 = done.find((r) => r.name.endsWith(".h264")) as Listed;
    const probe = await ffprobe(join(dir, h264.name));
    expect(probe.streams[0]).toMatchObject({ codec_name: "h264", width: 320, height: 240 });
    // The recording starts at the first IDR the server saw and may miss the last frame or two in flight.
    expect(Number(probe.streams[0]?.nb_read_frames)).toBeGreaterThanOrEqual(framesSent - 35);
    expect((await decodedHashes(join(dir, h264.name))).errors).toBe("");
    const mkv = await ffprobe(join(dir, done.find((r) => r.name.endsWith(".mkv"))?.name as string));
    expect(mkv.streams.map((s) => s.codec_name)).toEqual(["h264", "opus"]);
    // The client sends both on one clock from the same instant; libdatachannel's sender reports say so too.
    const starts = mkv.streams.map((s) => Number(s.start_time));
    expect(Math.abs((starts[0] as number) - (starts[1] as number))).toBeLessThan(0.15);
  });
});

describe("recordings survive every ending", () => {
  it("kill -9 mid-publish leaves an IVF and an Ogg that decode", async () => {
    const server = await startServer({ RECORD_ENABLED: "true", RECORD_DIR: "rec" });
    const dir = join(server.cwd, "rec");
    const pub = await publish(server.url, "crash", { connectTimeoutMs: CONNECT_MS });
    const sending = sendRealMedia(pub, { video: "vp8", seconds: 2.4 });
    await waitFor(() => {
      const ivf = readdirSync(dir).find((f) => f.endsWith(".ivf"));
      return ivf !== undefined && statSync(join(dir, ivf)).size > 40_000;
    }, 8000, "a good part of the IVF written");
    server.proc.kill("SIGKILL");
    expect(await server.exited).toBe(null);
    await sending;
    await pub.drop();
    const files = readdirSync(dir).sort();
    expect(files.map((f) => f.replace(/_\d+\./, "_T."))).toEqual(["crash_audio0_T.ogg", "crash_video0_T.ivf"]);
    const ivfPath = join(dir, files[1] as string);
    const frames = await probeFrames(ivfPath);
    expect(frames).toBeGreaterThanOrEqual(30);
    expect(readIvf(readFileSync(ivfPath)).frames.length).toBeGreaterThanOrEqual(frames);
    const ogg = await ffprobe(join(dir, files[0] as string));
    expect(ogg.streams[0]).toMatchObject({ codec_name: "opus", channels: 2 });
    expect(Number(ogg.format.duration)).toBeGreaterThan(1);
  });

  it("SIGTERM finishes the files (Ogg end-of-stream page) and the mkv before the process exits", async () => {
    const server = await startServer({ RECORD_ENABLED: "true", RECORD_DIR: "rec" });
    const dir = join(server.cwd, "rec");
    const pub = await publish(server.url, "term", { connectTimeoutMs: CONNECT_MS });
    await sendRealMedia(pub, { video: "vp8", seconds: 2.4 });
    const started = Date.now();
    expect(await server.stop("SIGTERM")).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    await pub.drop();
    const files = readdirSync(dir).sort();
    expect(files.map((f) => f.replace(/_\d+\./, "_T."))).toEqual(["term_T.mkv", "term_audio0_T.ogg", "term_video0_T.ivf"]);
    expect(readOgg(readFileSync(join(dir, files[1] as string))).pages.at(-1)?.flags).toBe(0x04);
    const ivf = readIvf(readFileSync(join(dir, files[2] as string)));
    // 72 sent; a packet lost on a loaded machine costs the rest of its GOP, never a broken frame.
    expect(ivf.frames.length).toBeGreaterThanOrEqual(30);
    expect(ivf.trailing).toBe(0);
    expect(await probeFrames(join(dir, files[2] as string))).toBe(ivf.frames.length);
  });

  it("an unwritable RECORD_DIR is reported at start; publishing and forwarding carry on; the failure is counted", async () => {
    const blocker = join(mkdtempSync(join(tmpdir(), "roomcast-rec-")), "a-file");
    writeFileSync(blocker, "RECORD_DIR cannot be created under a file");
    const server = await startServer({ RECORD_ENABLED: "true", RECORD_DIR: join(blocker, "rec") });
    try {
      await server.waitForLog(/RECORD_DIR .* is not writable \(ENOTDIR\)/);
      const pub = await publish(server.url, "nodisk", { connectTimeoutMs: CONNECT_MS });
      const viewer = await play(server.url, "nodisk", { connectTimeoutMs: CONNECT_MS });
      await waitRoomConnected(server.url, "nodisk", 1);
      pub.sendAudio(50);
      await pub.sendVideo(100, 2);
      await waitFor(() => viewer.videoIndexes.length >= 100 && viewer.audioPackets >= 40, 8000, "forwarding despite the failed recording");
      await server.waitForLog(/"msg":"recording stopped: .*forwarding continues"/);
      expect(await metric(server, "roomcast_record_errors_total", 'code="ENOTDIR"')).toBeGreaterThanOrEqual(2);
      expect((await fetch(`${server.url}/api/rooms/nodisk`)).status).toBe(200);
      await Promise.all([pub.close(), viewer.close()]);
    } finally {
      await server.stop();
    }
  });

  // Needs a tmpfs to fill: root (or CAP_SYS_ADMIN) in CI containers; skipped elsewhere.
  const full = mkdtempSync(join(tmpdir(), "roomcast-full-"));
  let mounted = false;
  try {
    mkdirSync(full, { recursive: true });
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", full], { stdio: "ignore" });
    mounted = true;
  } catch {
    mounted = false;
  }
  afterAll(() => {
    if (mounted) execFileSync("umount", ["-l", full], { stdio: "ignore" });
  });

  it.skipIf(!mounted)("a full disk stops the recording with a log line and a metric; forwarding continues; the file still decodes", async () => {
    const server = await startServer({ RECORD_ENABLED: "true", RECORD_DIR: full });
    try {
      const pub = await publish(server.url, "full", { connectTimeoutMs: CONNECT_MS });
      const viewer = await play(server.url, "full", { connectTimeoutMs: CONNECT_MS });
      await waitRoomConnected(server.url, "full", 1);
      const sent = await sendRealMedia(pub, { video: "vp8", seconds: 2.4, speed: 2 });
      await server.waitForLog(/"msg":"recording stopped: disk full; forwarding continues"/);
      // Real VP8 payloads do not pass the viewer helper's pattern check, so they count as "corrupt": they arrived.
      await waitFor(() => viewer.corrupt + viewer.videoIndexes.length >= sent.videoPackets * 0.95, 8000, "video forwarded to the end");
      expect(await metric(server, "roomcast_record_errors_total", 'code="ENOSPC"')).toBeGreaterThanOrEqual(1);
      await Promise.all([pub.close(), viewer.close()]);
      await waitFor(async () => (await records(server)).every((r) => !r.inProgress), 5000, "files closed");
      const ivf = readdirSync(full).find((f) => f.endsWith(".ivf")) as string;
      const parsed = readIvf(readFileSync(join(full, ivf)));
      expect(parsed.trailing).toBe(0); // cut back to the last whole frame
      expect(await probeFrames(join(full, ivf))).toBe(parsed.frames.length);
    } finally {
      await server.stop();
    }
  });
});
