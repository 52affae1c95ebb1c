import { describe, expect, it } from "vitest";
import { isErrorLevel, StderrParser } from "../../../../src/media/transcode/stderr.ts";

// What ffmpeg 5.1 printed with -loglevel level+info -stats while transcoding RTP to two renditions (trimmed).
const STARTUP = [
  "[info] ffmpeg stats and -progress period set to 1.",
  "[info] Input #0, sdp, from 'data:application/sdp;base64,dj0w':",
  "[info]   Metadata:",
  "[info]     title           : roomcast",
  "[info]   Duration: N/A, start: 0.233333, bitrate: N/A",
  "[info]   Stream #0:0: Video: h264 (Constrained Baseline), yuv420p(progressive), 640x360 [SAR 1:1 DAR 16:9], 30 fps, 30 tbr, 90k tbn",
  "[info] Stream mapping:",
  "[info]   Stream #0:0 -> #0:0 (h264 (native) -> h264 (libx264))",
  "[h264 @ 0x55d976180640] [error] non-existing PPS 0 referenced",
  "[libx264 @ 0x55909f32c6c0] [info] profile Constrained Baseline, level 3.0, 4:2:0, 8-bit",
  "[info] Output #0, rtp, to 'udp://127.0.0.1:6000?pkt_size=1200':",
  "[info]   Stream #0:0: Video: h264, yuv420p(progressive), 320x180 [SAR 1:1 DAR 16:9], q=2-31, 250 kb/s, 30 fps, 90k tbn",
  "",
].join("\n");

describe("StderrParser", () => {
  it("the input stream's codec and size (not the outputs'), levels and context tags", () => {
    const events = new StderrParser().push(STARTUP);
    expect(events.filter((e) => e.type === "input")).toEqual([{ type: "input", codec: "h264", width: 640, height: 360 }]);
    const errors = events.filter((e) => e.type === "log" && isErrorLevel(e.level));
    expect(errors).toEqual([{ type: "log", level: "error", text: "h264: non-existing PPS 0 referenced" }]);
    expect(events).toContainEqual({ type: "log", level: "info", text: "libx264: profile Constrained Baseline, level 3.0, 4:2:0, 8-bit" });
  });

  it("stats lines end in \\r and may arrive in pieces; speed N/A is undefined", () => {
    const p = new StderrParser();
    expect(p.push("[info] frame=   32 fps= 29 q=12.0 q=9.0 size=      29kB time=00:00:01.80 bitr")).toEqual([]);
    expect(p.push("ate= 132.1kbits/s speed=1.01x    \r[info] frame=   62 fps=30 q=6.0 size=N/A time=00:00:02.80 bitrate=N/A speed=N/A    \r")).toEqual([
      { type: "progress", frame: 32, fps: 29, speed: 1.01 },
      { type: "progress", frame: 62, fps: 30, speed: undefined },
    ]);
  });

  it("lines without a level are info; fatal and panic are errors, warnings are not", () => {
    const events = new StderrParser().push("Exiting normally, received signal 15.\n[fatal] boom\n[warning] slow\n");
    expect(events).toEqual([
      { type: "log", level: "info", text: "Exiting normally, received signal 15." },
      { type: "log", level: "fatal", text: "boom" },
      { type: "log", level: "warning", text: "slow" },
    ]);
    expect(isErrorLevel("fatal")).toBe(true);
    expect(isErrorLevel("panic")).toBe(true);
    expect(isErrorLevel("warning")).toBe(false);
  });

  it("a runaway line without an end does not grow without bound", () => {
    const p = new StderrParser();
    p.push("x".repeat(100_000));
    const [event] = p.push("\n");
    expect(event?.type === "log" && event.text.length).toBe(4096);
  });
});
