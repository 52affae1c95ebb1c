import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runFfmpeg } from "../../../../src/media/ffmpeg.ts";
import { decideEncoder, failureReason, probeNvenc, probeNvencCached, type NvencProbe } from "../../../../src/media/transcode/probe.ts";

const dir = mkdtempSync(join(tmpdir(), "roomcast-probe-test-"));

/** A fake ffmpeg: a shell script that logs its arguments and answers as `body` says. */
function fakeFfmpeg(name: string, body: string): { path: string; calls: () => string[] } {
  const path = join(dir, name);
  const log = `${path}.log`;
  writeFileSync(log, "");
  writeFileSync(path, `#!/bin/sh\necho "$*" >> '${log}'\n${body}\n`);
  chmodSync(path, 0o755);
  return { path, calls: () => readFileSync(log, "utf8").split("\n").filter((l) => l !== "") };
}

const run = (path: string) => (args: readonly string[]) => runFfmpeg(path, args, { timeoutMs: 5000 });

describe("probeNvenc with fake ffmpeg binaries", () => {
  it("an ffmpeg whose NVENC fails (no driver): one attempt, not ok, the telling line kept", async () => {
    const ff = fakeFfmpeg("no-cuda", `echo "[h264_nvenc @ 0x55d] Cannot load libcuda.so.1" >&2\necho "Error initializing output stream 0:0 --" >&2\nexit 1`);
    const probe = await probeNvenc(run(ff.path), dir);
    expect(probe).toEqual({ ok: false, path: undefined, steps: [{ step: "nvenc", ok: false, error: "Cannot load libcuda.so.1" }] });
    expect(ff.calls()).toHaveLength(1);
    expect(ff.calls()[0]).toMatch(/-frames:v 1 -c:v h264_nvenc -f h264 .*probe\.h264$/);
  });

  it("a path that does not exist: not ok, and the reason says it did not start", async () => {
    const probe = await probeNvenc(run(join(dir, "missing-ffmpeg")), dir);
    expect(probe.ok).toBe(false);
    expect(probe.steps[0]?.error).toMatch(/ENOENT|not found|did not start/);
  });

  it("all three steps work: NVDEC, scale_cuda and NVENC on the GPU, after two real attempts", async () => {
    const ff = fakeFfmpeg("all-gpu", "exit 0");
    const probe = await probeNvenc(run(ff.path), dir);
    expect(probe).toEqual({ ok: true, path: { decode: "cuda", scale: "cuda" }, steps: [{ step: "nvenc", ok: true }, { step: "cuda-decode", ok: true }] });
    expect(ff.calls()[1]).toMatch(/-hwaccel cuda -hwaccel_output_format cuda -i .*probe\.h264 -vf scale_cuda=160:120 -c:v h264_nvenc/);
  });

  it("NVENC works but NVDEC does not: CPU decode with scale_cuda after an upload", async () => {
    const ff = fakeFfmpeg("no-nvdec", `case "$*" in *-hwaccel*) echo "Failed setup for format cuda: hwaccel initialisation returned error." >&2; exit 1;; esac\nexit 0`);
    const probe = await probeNvenc(run(ff.path), dir);
    expect(probe.path).toEqual({ decode: "cpu", scale: "cuda" });
    expect(probe.steps.map((s) => `${s.step}:${s.ok}`)).toEqual(["nvenc:true", "cuda-decode:false", "cuda-scale:true"]);
    expect(probe.steps[1]?.error).toMatch(/Failed setup for format cuda/);
    expect(ff.calls()[2]).toMatch(/-init_hw_device cuda=cu -filter_hw_device cu .*format=nv12,hwupload_cuda,scale_cuda=160:120/);
  });

  it("only the encoder works: CPU decode and scale", async () => {
    const ff = fakeFfmpeg("nvenc-only", `case "$*" in *cuda*) echo "No device available for decoder" >&2; exit 1;; esac\nexit 0`);
    const probe = await probeNvenc(run(ff.path), dir);
    expect(probe).toMatchObject({ ok: true, path: { decode: "cpu", scale: "cpu" } });
  });

  it("a hanging ffmpeg times out and counts as a failure", async () => {
    const ff = fakeFfmpeg("hangs", "exec sleep 30");
    const probe = await probeNvenc((args) => runFfmpeg(ff.path, args, { timeoutMs: 200 }), dir);
    expect(probe.steps).toEqual([{ step: "nvenc", ok: false, error: "timed out" }]);
  });

  it("the cached probe runs once per binary", async () => {
    const ff = fakeFfmpeg("cached", "exit 1");
    const [a, b] = await Promise.all([probeNvencCached(ff.path), probeNvencCached(ff.path)]);
    expect(a).toBe(b);
    expect(ff.calls()).toHaveLength(1);
  });
});

describe("failureReason", () => {
  it("prefers the line that says why over the generic last one", () => {
    const r = { code: 1, signal: null, timedOut: false, stderr: "[h264_nvenc @ 0x1] OpenEncodeSessionEx failed: unsupported device (2): (no details)\nConversion failed!" };
    expect(failureReason(r)).toBe("OpenEncodeSessionEx failed: unsupported device (2): (no details)");
    expect(failureReason({ code: 1, signal: null, timedOut: false, stderr: "" })).toBe("exit code 1");
  });
});

describe("decideEncoder", () => {
  const failed: NvencProbe = { ok: false, path: undefined, steps: [{ step: "nvenc", ok: false, error: "Cannot load libcuda.so.1" }] };
  const gpu: NvencProbe = { ok: true, path: { decode: "cuda", scale: "cuda" }, steps: [] };

  it("auto without a working NVENC: libx264 for H264, libvpx for VP8, and the reason names the failure", () => {
    const d = decideEncoder("auto", failed);
    expect(d.primary).toBe("x264");
    expect(d.byCodec).toEqual({ h264: { kind: "x264" }, vp8: { kind: "vp8" } });
    expect(d.reason).toMatch(/no working NVENC \(Cannot load libcuda\.so\.1\)/);
  });

  it("auto with NVENC: NVENC with the probed path for H264; VP8 stays VP8", () => {
    const d = decideEncoder("auto", gpu);
    expect(d.primary).toBe("nvenc");
    expect(d.byCodec.h264).toEqual({ kind: "nvenc", nvenc: { decode: "cuda", scale: "cuda" } });
    expect(d.byCodec.vp8).toEqual({ kind: "vp8" });
    expect(d.reason).toMatch(/all on the GPU/);
  });

  it("nvenc forced but broken: nothing is transcoded, and the reason says how to fall back", () => {
    const d = decideEncoder("nvenc", failed);
    expect(d.primary).toBeUndefined();
    expect(d.byCodec).toEqual({ h264: undefined, vp8: undefined });
    expect(d.reason).toMatch(/NVENC does not work here \(Cannot load libcuda\.so\.1\).*TRANSCODE_ENCODER=auto/);
  });

  it("x264 forced: H264 sources only (a VP8 viewer could not decode H264 renditions)", () => {
    const d = decideEncoder("x264", undefined);
    expect(d.byCodec).toEqual({ h264: { kind: "x264" }, vp8: undefined });
    expect(d.reason).toMatch(/VP8 sources are not transcoded/);
  });

  it("vp8 forced: VP8 sources only", () => {
    const d = decideEncoder("vp8", undefined);
    expect(d.primary).toBe("vp8");
    expect(d.byCodec).toEqual({ h264: undefined, vp8: { kind: "vp8" } });
    expect(d.reason).toMatch(/libvpx for VP8 sources; H264 sources are not transcoded/);
  });
});
