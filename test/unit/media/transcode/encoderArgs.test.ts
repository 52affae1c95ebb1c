import { describe, expect, it } from "vitest";
import {
  buildTranscodeArgs,
  encoderArgs,
  h264Level,
  inputSdp,
  outputUrl,
  parseFfmpegVersion,
  scaleFilter,
  type EncoderChoice,
  type OutputTarget,
  type TranscodeArgsOptions,
} from "../../../../src/media/transcode/encoderArgs.ts";

const r720: OutputTarget = { name: "720p", width: 1280, height: 720, bitrateKbps: 2500, port: 40000 };
const r360: OutputTarget = { name: "360p", width: 640, height: 360, bitrateKbps: 800, port: 40002 };
const X264: EncoderChoice = { kind: "x264" };
const VP8: EncoderChoice = { kind: "vp8" };
const NVENC_GPU: EncoderChoice = { kind: "nvenc", nvenc: { decode: "cuda", scale: "cuda" } };
const NVENC_UPLOAD: EncoderChoice = { kind: "nvenc", nvenc: { decode: "cpu", scale: "cuda" } };
const NVENC_CPU: EncoderChoice = { kind: "nvenc", nvenc: { decode: "cpu", scale: "cpu" } };

function build(over: Partial<TranscodeArgsOptions> = {}): string[] {
  return buildTranscodeArgs({
    input: { codec: "h264", payloadType: 102, port: 50000, spropParameterSets: "Z0LAHg==,aM48gA==" },
    encoder: X264,
    outputs: [r720, r360],
    ffmpegVersion: "ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026 the FFmpeg developers",
    ...over,
  });
}

/** The value after `flag`, for each time the flag appears. */
function values(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1] as string] : []));
}

/** The arguments of output n: from its -map to its URL. */
function output(args: string[], n: number): string[] {
  const starts = args.flatMap((a, i) => (a === "-map" ? [i] : []));
  const start = starts[n] as number;
  const url = args.findIndex((a, i) => i > start && a.startsWith("udp://"));
  return args.slice(start, url + 1);
}

describe("inputSdp", () => {
  it("H264: the publisher's payload type on the loopback port, mode 1, its SPS/PPS as sprop", () => {
    const sdp = inputSdp({ codec: "h264", payloadType: 102, port: 50000, spropParameterSets: "Z0LAHg==,aM48gA==" });
    expect(sdp.split("\r\n")).toEqual([
      "v=0",
      "o=- 0 0 IN IP4 127.0.0.1",
      "s=roomcast",
      "c=IN IP4 127.0.0.1",
      "t=0 0",
      "m=video 50000 RTP/AVP 102",
      "a=rtpmap:102 H264/90000",
      "a=fmtp:102 packetization-mode=1;sprop-parameter-sets=Z0LAHg==,aM48gA==",
      "a=recvonly",
      "",
    ]);
  });

  it("H264 without parameter sets yet; VP8", () => {
    expect(inputSdp({ codec: "h264", payloadType: 96, port: 5 })).toContain("a=fmtp:96 packetization-mode=1\r\n");
    const vp8 = inputSdp({ codec: "vp8", payloadType: 97, port: 6 });
    expect(vp8).toContain("m=video 6 RTP/AVP 97\r\na=rtpmap:97 VP8/90000\r\n");
    expect(vp8).not.toContain("fmtp");
  });
});

describe("buildTranscodeArgs: what every path shares", () => {
  const args = build();

  it("reads the SDP from a data: URI with only data, udp and rtp allowed, without probing", () => {
    const i = args.indexOf("-i");
    const uri = args[i + 1] as string;
    expect(uri.startsWith("data:application/sdp;base64,")).toBe(true);
    expect(Buffer.from(uri.split(",")[1] as string, "base64").toString()).toBe(
      inputSdp({ codec: "h264", payloadType: 102, port: 50000, spropParameterSets: "Z0LAHg==,aM48gA==" }),
    );
    expect(values(args, "-protocol_whitelist")).toEqual(["data,udp,rtp"]);
    expect(values(args, "-f")[0]).toBe("sdp");
    // Input options come before -i.
    for (const flag of ["-fflags", "-flags", "-probesize", "-analyzeduration", "-max_delay"]) expect(args.indexOf(flag)).toBeLessThan(i);
    expect(values(args, "-probesize")).toEqual(["32"]);
    expect(values(args, "-analyzeduration")).toEqual(["0"]);
  });

  it("levels in stderr, stats every second, never reads stdin", () => {
    expect(args.slice(0, 2)).toEqual(["-hide_banner", "-nostdin"]);
    expect(values(args, "-loglevel")).toEqual(["level+info"]);
    expect(values(args, "-stats_period")).toEqual(["1"]);
  });

  it("one output per rendition, each fed by the single decoder (no second -i), RTP to its own loopback port", () => {
    expect(args.filter((a) => a === "-i")).toHaveLength(1);
    expect(values(args, "-map")).toEqual(["0:v:0", "0:v:0"]);
    expect(output(args, 0).at(-1)).toBe(outputUrl(40000));
    expect(output(args, 1).at(-1)).toBe(outputUrl(40002));
    expect(outputUrl(40000)).toBe("udp://127.0.0.1:40000?pkt_size=1200");
    for (const n of [0, 1]) {
      const out = output(args, n);
      expect(values(out, "-f")).toEqual(["rtp"]);
      expect(values(out, "-payload_type")).toEqual(["96"]);
      expect(out).toContain("-an");
      expect(values(out, "-fps_mode")).toEqual(["passthrough"]);
    }
  });

  it("a key frame every second by time and by count (-g from the source's fps)", () => {
    const out = output(build({ fps: 25, gopSeconds: 1 }), 0);
    expect(values(out, "-g")).toEqual(["25"]);
    expect(values(out, "-keyint_min")).toEqual(["25"]);
    expect(values(out, "-force_key_frames")).toEqual(["expr:gte(t,n_forced*1)"]);
    expect(values(output(build({ gopSeconds: 2 }), 0), "-g")).toEqual(["60"]);
  });

  it("ffmpeg before 5.1 gets -vsync instead of -fps_mode; unknown versions count as new", () => {
    const old = build({ ffmpegVersion: "ffmpeg version 4.4.2-0ubuntu0.22.04.1" });
    expect(values(old, "-vsync")).toEqual(["passthrough", "passthrough"]);
    expect(old).not.toContain("-fps_mode");
    expect(build({ ffmpegVersion: "ffmpeg version N-113000-g1234abcd" })).toContain("-fps_mode");
    expect(parseFfmpegVersion("ffmpeg version n6.1.1 Copyright")).toEqual({ major: 6, minor: 1 });
    expect(parseFfmpegVersion("ffmpeg version 7.0-static https://johnvansickle.com/ffmpeg/")).toEqual({ major: 7, minor: 0 });
    expect(parseFfmpegVersion("ffmpeg version N-113000-g1234")).toBeUndefined();
  });

  it("refuses to build a transcoder with no rendition", () => {
    expect(() => build({ outputs: [] })).toThrow(/at least one rendition/);
  });
});

describe("libx264 path", () => {
  const args = build({ encoder: X264 });
  const out = output(args, 0);

  it("veryfast, zerolatency, Constrained Baseline at the level the rendition needs, no B-frames", () => {
    expect(values(out, "-c:v")).toEqual(["libx264"]);
    expect(values(out, "-preset")).toEqual(["veryfast"]);
    expect(values(out, "-tune")).toEqual(["zerolatency"]);
    expect(values(out, "-profile:v")).toEqual(["baseline"]);
    expect(values(out, "-level:v")).toEqual(["3.1"]);
    expect(values(output(args, 1), "-level:v")).toEqual(["3.0"]);
    expect(values(out, "-bf")).toEqual(["0"]);
  });

  it("CBR-like rate with a one-second buffer, per rendition", () => {
    expect(values(out, "-b:v")).toEqual(["2500k"]);
    expect(values(out, "-maxrate")).toEqual(["2500k"]);
    expect(values(out, "-bufsize")).toEqual(["2500k"]);
    expect(values(output(args, 1), "-b:v")).toEqual(["800k"]);
  });

  it("CPU scaling to the rendition's exact size in yuv420p; no hardware options anywhere", () => {
    expect(values(out, "-vf")).toEqual(["scale=1280:720,format=yuv420p"]);
    expect(values(output(args, 1), "-vf")).toEqual(["scale=640:360,format=yuv420p"]);
    for (const flag of ["-hwaccel", "-init_hw_device", "-filter_hw_device"]) expect(args).not.toContain(flag);
    expect(args.join(" ")).not.toMatch(/cuda|nvenc/);
  });

  it("the preset can be changed (benchmarks, tests)", () => {
    expect(values(output(build({ x264Preset: "ultrafast" }), 0), "-preset")).toEqual(["ultrafast"]);
  });
});

describe("NVENC path", () => {
  it("all on the GPU: NVDEC decode into CUDA frames, scale_cuda, h264_nvenc", () => {
    const args = build({ encoder: NVENC_GPU });
    const i = args.indexOf("-i");
    expect(values(args, "-hwaccel")).toEqual(["cuda"]);
    expect(values(args, "-hwaccel_output_format")).toEqual(["cuda"]);
    expect(args.indexOf("-hwaccel")).toBeLessThan(i);
    expect(args).not.toContain("-init_hw_device");
    expect(values(output(args, 0), "-vf")).toEqual(["scale_cuda=1280:720"]);
    expect(values(output(args, 1), "-vf")).toEqual(["scale_cuda=640:360"]);
  });

  it("CPU decode with scale_cuda: a CUDA device for the filters, frames uploaded per rendition", () => {
    const args = build({ encoder: NVENC_UPLOAD });
    expect(args).not.toContain("-hwaccel");
    expect(values(args, "-init_hw_device")).toEqual(["cuda=cu"]);
    expect(values(args, "-filter_hw_device")).toEqual(["cu"]);
    expect(values(output(args, 0), "-vf")).toEqual(["format=nv12,hwupload_cuda,scale_cuda=1280:720"]);
  });

  it("CPU decode and scale, NVENC encode only", () => {
    const args = build({ encoder: NVENC_CPU });
    for (const flag of ["-hwaccel", "-init_hw_device"]) expect(args).not.toContain(flag);
    expect(values(output(args, 0), "-vf")).toEqual(["scale=1280:720,format=yuv420p"]);
    expect(values(output(args, 0), "-c:v")).toEqual(["h264_nvenc"]);
  });

  it("low-latency CBR, baseline, no B-frames, every forced key frame an IDR", () => {
    const out = output(build({ encoder: NVENC_GPU }), 0);
    expect(values(out, "-c:v")).toEqual(["h264_nvenc"]);
    expect(values(out, "-preset")).toEqual(["p1"]);
    expect(values(out, "-tune")).toEqual(["ll"]);
    expect(values(out, "-profile:v")).toEqual(["baseline"]);
    expect(values(out, "-level:v")).toEqual(["3.1"]);
    expect(values(out, "-rc")).toEqual(["cbr"]);
    expect(values(out, "-bf")).toEqual(["0"]);
    expect(values(out, "-zerolatency")).toEqual(["1"]);
    expect(values(out, "-delay")).toEqual(["0"]);
    expect(values(out, "-forced-idr")).toEqual(["1"]);
    expect(values(out, "-b:v")).toEqual(["2500k"]);
    expect(values(out, "-force_key_frames")).toEqual(["expr:gte(t,n_forced*1)"]);
    expect(out).not.toContain("-tune zerolatency");
  });

  it("without a probed path, NVENC gets CPU decode and scale", () => {
    expect(scaleFilter({ kind: "nvenc" }, r360)).toBe("scale=640:360,format=yuv420p");
  });
});

describe("VP8 path (libvpx)", () => {
  const args = build({ encoder: VP8, input: { codec: "vp8", payloadType: 96, port: 50000 } });
  const out = output(args, 0);

  it("realtime deadline, cpu-used 8, no lag or alt-ref, error resilient, CBR", () => {
    expect(values(out, "-c:v")).toEqual(["libvpx"]);
    expect(values(out, "-deadline")).toEqual(["realtime"]);
    expect(values(out, "-cpu-used")).toEqual(["8"]);
    expect(values(out, "-lag-in-frames")).toEqual(["0"]);
    expect(values(out, "-auto-alt-ref")).toEqual(["0"]);
    expect(values(out, "-error-resilient")).toEqual(["1"]);
    expect(values(out, "-minrate")).toEqual(["2500k"]);
    expect(values(out, "-maxrate")).toEqual(["2500k"]);
    expect(values(out, "-b:v")).toEqual(["2500k"]);
    expect(out).not.toContain("-profile:v");
    expect(out).not.toContain("-level:v");
  });

  it("reads VP8 RTP and scales on the CPU", () => {
    const uri = args[args.indexOf("-i") + 1] as string;
    expect(Buffer.from(uri.split(",")[1] as string, "base64").toString()).toContain("a=rtpmap:96 VP8/90000");
    expect(values(out, "-vf")).toEqual(["scale=1280:720,format=yuv420p"]);
    expect(encoderArgs(VP8, r360, { gopSeconds: 1, fps: 30, x264Preset: "veryfast" })).toContain("-force_key_frames");
  });
});

describe("h264Level", () => {
  it("the lowest level of Table A-1 that holds the rendition, never below 3.0", () => {
    expect(h264Level(320, 180, 30)).toBe("3.0");
    expect(h264Level(640, 360, 30)).toBe("3.0");
    expect(h264Level(854, 480, 30)).toBe("3.1");
    expect(h264Level(1280, 720, 30)).toBe("3.1");
    expect(h264Level(1280, 720, 60)).toBe("3.2");
    expect(h264Level(1920, 1080, 30)).toBe("4.0");
    expect(h264Level(1920, 1080, 60)).toBe("4.2");
    expect(h264Level(3840, 2160, 30)).toBe("5.1");
    expect(h264Level(7680, 4320, 30)).toBe("5.2");
  });
});
