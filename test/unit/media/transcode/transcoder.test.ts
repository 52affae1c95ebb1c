// The supervision with fake ffmpeg binaries (shell scripts): the watchdog wrapper, and the Transcoder's state
// machine from the source's first keyframe to "off", "failed" and "closed". The real ffmpeg path is end to end.
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { RtpHeader, RtpPacket } from "werift";
import { afterEach, describe, expect, it } from "vitest";
import { FfmpegProcess } from "../../../../src/media/transcode/ffmpegProcess.ts";
import { parseLadder } from "../../../../src/media/transcode/ladder.ts";
import { MAX_FAILURES_BEFORE_READY, Transcoder, type TranscodeBackend } from "../../../../src/media/transcode/transcoder.ts";
import { transcodableCodec } from "../../../../src/media/transcode/transcodeService.ts";
import { Metrics } from "../../../../src/metrics/metrics.ts";
import { PublishedTrack } from "../../../../src/room/publishedTrack.ts";
import type { TrackHooks } from "../../../../src/room/trackLayer.ts";
import type { CodecInfo } from "../../../../src/rtc/codecs.ts";

const dir = mkdtempSync(join(tmpdir(), "roomcast-transcoder-test-"));
const log = pino({ level: "silent" });
const hooks: TrackHooks = { onPacket: () => undefined, onLost: () => undefined, onForwarded: () => undefined, onKeyframeRequest: () => undefined, flush: () => undefined };

function script(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

function alive(pid: number | undefined): boolean {
  if (pid === undefined || !existsSync(`/proc/${pid}/stat`)) return false;
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  return text.slice(text.lastIndexOf(")") + 2, text.lastIndexOf(")") + 3) !== "Z";
}

async function until<T>(check: () => T, timeoutMs = 5000): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("FfmpegProcess (the watchdog wrapper)", () => {
  it("reports ffmpeg's pid and its stderr; a normal exit is reported once with its code", async () => {
    const exits: (number | null)[] = [];
    const lines: string[] = [];
    const proc = FfmpegProcess.spawn(script("says", 'echo "[error] $1" >&2; exit 3'), ["boom"], {
      onStderr: (events) => lines.push(...events.map((e) => (e.type === "log" ? `${e.level}:${e.text}` : e.type))),
      onExit: (code) => exits.push(code),
    });
    await until(() => exits.length > 0);
    expect(exits).toEqual([3]);
    expect(lines).toEqual(["error:boom"]);
    expect(proc.exited).toBe(true);
  });

  it("stop(): SIGTERM reaches ffmpeg only; one that ignores it gets SIGKILL after the grace period", async () => {
    let exited = false;
    let trapped = false;
    const proc = FfmpegProcess.spawn(script("stubborn", "trap '' TERM\necho '[info] trapped' >&2\nwhile :; do sleep 0.05; done"), [], {
      onStderr: () => {
        trapped = true;
      },
      onExit: () => {
        exited = true;
      },
    });
    const pid = await until(() => proc.ffmpegPid);
    await until(() => trapped);
    expect(alive(pid)).toBe(true);
    const t0 = Date.now();
    proc.stop();
    await new Promise((r) => setTimeout(r, 300));
    // Still there: it ignores SIGTERM, and the wrapper (ignoring it too) waits for it.
    expect(alive(pid)).toBe(true);
    expect(exited).toBe(false);
    await until(() => exited, 5000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
    await until(() => !alive(pid));
  });

  it("a process that honours SIGTERM ends at once", async () => {
    let signal: string | null = null;
    const proc = FfmpegProcess.spawn(script("polite", "exec sleep 30"), [], { onStderr: () => undefined, onExit: (_c, s) => (signal = s ?? "exit") });
    const pid = await until(() => proc.ffmpegPid);
    proc.stop();
    await until(() => signal !== null, 1000);
    await until(() => !alive(pid), 1000);
  });
});

// A publisher's H264 track, fed by hand: a STAP-A with SPS (640x360) and PPS starts a keyframe.
const SPS_640x360 = Buffer.from("6742c01ed900a02ff970110000030001000003003c0f162e48", "hex");
const PPS = Buffer.from("68ce3c80", "hex");
const H264: CodecInfo = {
  kind: "video",
  mimeType: "video/H264",
  clockRate: 90000,
  channels: undefined,
  payloadType: 102,
  fmtp: "profile-level-id=42e01f;packetization-mode=1",
  rtcpFb: [],
};

function keyframe(seq: number): RtpPacket {
  const stap = Buffer.concat([Buffer.from([0x18, 0, SPS_640x360.length]), SPS_640x360, Buffer.from([0, PPS.length]), PPS]);
  return new RtpPacket(new RtpHeader({ payloadType: 102, sequenceNumber: seq, timestamp: seq * 3000, ssrc: 42 }), stap);
}

describe("Transcoder state machine", () => {
  let open: { t: Transcoder; track: PublishedTrack }[] = [];
  afterEach(() => {
    for (const o of open) {
      o.t.close();
      o.track.close();
    }
    open = [];
  });

  function setup(ladder: string, backend: TranscodeBackend | string, metrics = new Metrics()) {
    const track = new PublishedTrack("video", 0, "0", H264, hooks);
    const failures: string[] = [];
    const t = new Transcoder({ room: "r", source: track.transcodeSource(hooks), codec: "h264", ladder: parseLadder(ladder), backend: async () => backend, metrics, log, backoffMinMs: 20, onFailed: (_t, reason) => failures.push(reason) });
    open.push({ t, track });
    return { t, track, metrics, failures };
  }

  const fakeBackend = (path: string): TranscodeBackend => ({
    ffmpeg: { path, source: "FFMPEG_PATH", version: "ffmpeg version 5.1.9" },
    encoder: { kind: "x264" },
  });

  it("waits for the source's first keyframe; P-frames alone start nothing", async () => {
    const { t, track } = setup("180p", fakeBackend(script("never", "exit 1")));
    track.forward(new RtpPacket(new RtpHeader({ payloadType: 102, sequenceNumber: 1, timestamp: 1, ssrc: 42 }), Buffer.from([0x41, 0x9a])));
    await new Promise((r) => setTimeout(r, 50));
    expect(t.state).toBe("waiting");
    expect(track.layers.map((l) => l.name)).toEqual(["source"]);
  });

  it("the size may come from the offer's sprop-parameter-sets when the stream's keyframe has no SPS", async () => {
    const track = new PublishedTrack("video", 0, "0", { ...H264, fmtp: `packetization-mode=1;sprop-parameter-sets=${SPS_640x360.toString("base64")},${PPS.toString("base64")}` }, hooks);
    const t = new Transcoder({ room: "r", source: track.transcodeSource(hooks), codec: "h264", ladder: parseLadder("720p"), backend: async () => fakeBackend("/bin/false"), metrics: new Metrics(), log });
    open.push({ t, track });
    // An IDR slice alone (FU-A start), no SPS in band.
    track.forward(new RtpPacket(new RtpHeader({ payloadType: 102, sequenceNumber: 1, timestamp: 1, ssrc: 42 }), Buffer.from([0x7c, 0x85, 0x88])));
    await until(() => t.state === "off");
    expect(t.reason).toMatch(/640x360/);
  });

  it("off when the source is smaller than every rung, or when there is no backend", async () => {
    const small = setup("720p,480p", fakeBackend(script("unused", "exit 1")));
    small.track.forward(keyframe(1));
    await until(() => small.t.state === "off");
    expect(small.t.reason).toMatch(/640x360, smaller than every rung of 720p:2500k,480p:1200k/);
    expect(small.track.layers).toHaveLength(1);

    const none = setup("180p", "no ffmpeg found");
    none.track.forward(keyframe(1));
    await until(() => none.t.state === "off");
    expect(none.t.reason).toBe("no ffmpeg found");
  });

  it("an ffmpeg that never gets ready is restarted with backoff, then given up; its error is the reason", async () => {
    const { t, track, metrics, failures } = setup("360p:800k,180p:250k,720p:2M", fakeBackend(script("broken", 'echo "[fatal] Unrecognized option \'tune\'." >&2; exit 1')));
    track.forward(keyframe(1));
    await until(() => t.state === "failed", 10_000);
    expect(t.restarts).toBe(MAX_FAILURES_BEFORE_READY - 1);
    expect(t.reason).toMatch(/failed 5 times before it was ready: Unrecognized option 'tune'\./);
    // Told once, with the reason (the transcode.failed webhook); the restarts before were not failures.
    expect(failures).toEqual([t.reason]);
    // The rungs that fit the source became layers (720p did not), renditions after the source.
    expect(track.layers.map((l) => `${l.name}${l.rendition ? "*" : ""}`)).toEqual(["source", "360p*", "180p*"]);
    expect(track.defaultLayer().name).toBe("source");
    const text = (await metrics.render()).body;
    expect(text).toMatch(/roomcast_transcode_restarts_total\{reason="start_failed"\} 4/);
    expect(text).toMatch(/roomcast_transcode_processes\{encoder="libx264"\} 0/);
    expect(t.details()).toMatchObject({ state: "failed", encoder: "libx264", source: { width: 640, height: 360 }, pid: null });
  });

  it("close() stops the process and frees everything; the process gauge goes back to 0", async () => {
    const { t, track, metrics } = setup("180p", fakeBackend(script("runs", "exec sleep 30")));
    track.forward(keyframe(1));
    const pid = await until(() => t.pid);
    expect(t.state).toBe("starting");
    expect(alive(pid)).toBe(true);
    t.close();
    expect(t.state).toBe("closed");
    await until(() => !alive(pid), 3000);
    await until(async () => /roomcast_transcode_processes\{encoder="libx264"\} 0/.test((await metrics.render()).body));
  });
});

describe("transcodableCodec", () => {
  const track = (mimeType: string, fmtp = "") => new PublishedTrack("video", 0, "0", { ...H264, mimeType, fmtp }, hooks).codec;
  it("H264 in packetization mode 1 and VP8; not mode 0, not VP9 or AV1", () => {
    expect(transcodableCodec(track("video/H264", "packetization-mode=1"))).toBe("h264");
    expect(transcodableCodec(track("video/VP8"))).toBe("vp8");
    expect(transcodableCodec(track("video/H264", "packetization-mode=0"))).toMatch(/packetization-mode 0/);
    expect(transcodableCodec(track("video/VP9"))).toMatch(/video\/VP9 is not transcoded/);
  });
});
