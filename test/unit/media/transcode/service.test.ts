// The transcode service as the server wires it, through the HTTP app with no listening socket: what
// /api/bootstrap says, and how a publish picks its room's ladder (JWT claim, then ?ladder=, then TRANSCODE_LADDER).
import "../../../../src/polyfills.ts";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { Authorizer } from "../../../../src/auth/authorizer.ts";
import { loadConfig, type Env } from "../../../../src/config.ts";
import { createApp } from "../../../../src/http/app.ts";
import type { FfmpegBinary } from "../../../../src/media/ffmpeg.ts";
import { TranscodeService } from "../../../../src/media/transcode/transcodeService.ts";
import { Metrics } from "../../../../src/metrics/metrics.ts";
import { EventsHub } from "../../../../src/room/eventsHub.ts";
import { RoomRegistry } from "../../../../src/room/registry.ts";
import { loadSdp } from "../../../fixtures/fixtures.ts";

const dir = mkdtempSync(join(tmpdir(), "roomcast-service-test-"));
const registries: RoomRegistry[] = [];
afterEach(() => {
  for (const r of registries.splice(0)) r.close("test done");
});

/** A fake ffmpeg that fails every NVENC attempt the way a machine without a driver does. */
function noGpuFfmpeg(): FfmpegBinary {
  const path = join(dir, "ffmpeg-no-gpu");
  writeFileSync(path, '#!/bin/sh\necho "[h264_nvenc @ 0x1] Cannot load libcuda.so.1" >&2\nexit 1\n');
  chmodSync(path, 0o755);
  return { path, source: "FFMPEG_PATH", version: "ffmpeg version 5.1.9-fake" };
}

/** `ffmpeg: null` is a machine where no ffmpeg is found. */
function server(env: Env = {}, ffmpeg: FfmpegBinary | null = noGpuFfmpeg()) {
  const config = loadConfig({ RATE_LIMIT_RPS: "0", ...env });
  const log = pino({ level: "silent" });
  const metrics = new Metrics();
  const transcode = new TranscodeService({ config, metrics, log, resolve: async () => ffmpeg ?? undefined });
  const registry = new RoomRegistry({ config, metrics, log, transcode });
  registries.push(registry);
  const app = createApp({ config, registry, events: new EventsHub(registry), authorizer: new Authorizer(config), metrics, log, version: "0.0.0-test", transcode });
  return { app, metrics, registry, transcode };
}

interface Bootstrap {
  features: { rooms: boolean; records: boolean; transcode: Record<string, unknown> };
}

describe("features.transcode in /api/bootstrap", () => {
  it("auto on a machine without a GPU: libx264 for H264, libvpx for VP8, the probe's failure as the reason", async () => {
    const { app, metrics } = server({ TRANSCODE_LADDER: "720p:2500k,360p:800k" });
    const body = (await (await app.request("/api/bootstrap")).json()) as Bootstrap;
    expect(body.features.rooms).toBe(true);
    expect(body.features.transcode).toMatchObject({
      state: "ready",
      encoder: "libx264",
      encoders: { h264: "libx264", vp8: "libvpx" },
      setting: "auto",
      ladder: "720p:2500k,360p:800k",
      ffmpeg: { path: noGpuFfmpeg().path, version: "ffmpeg version 5.1.9-fake", source: "FFMPEG_PATH" },
      probe: [{ step: "nvenc", ok: false, error: "Cannot load libcuda.so.1" }],
    });
    expect(body.features.transcode["reason"]).toMatch(/no working NVENC \(Cannot load libcuda\.so\.1\)/);
    const text = (await metrics.render()).body;
    expect(text).toMatch(/roomcast_transcode_encoder_info\{codec="h264",encoder="libx264"\} 1/);
    expect(text).toMatch(/roomcast_transcode_encoder_info\{codec="vp8",encoder="libvpx"\} 1/);
    expect(text).toMatch(/roomcast_transcode_processes\{encoder="libx264"\} 0/);
  });

  it("TRANSCODE_ENCODER=nvenc without a GPU: no encoder, and the reason says transcoding is off", async () => {
    const body = (await (await server({ TRANSCODE_ENCODER: "nvenc" }).app.request("/api/bootstrap")).json()) as Bootstrap;
    expect(body.features.transcode).toMatchObject({ state: "ready", encoder: null, encoders: { h264: null, vp8: null } });
    expect(body.features.transcode["reason"]).toMatch(/NVENC does not work here.*transcoding is off/);
  });

  it("TRANSCODE_ENCODER=x264 does not probe", async () => {
    const body = (await (await server({ TRANSCODE_ENCODER: "x264" }).app.request("/api/bootstrap")).json()) as Bootstrap;
    expect(body.features.transcode).toMatchObject({ encoder: "libx264", encoders: { h264: "libx264", vp8: null }, probe: null });
  });

  it("no ffmpeg at all: unavailable, with a clear message; never a crash", async () => {
    const body = (await (await server({ TRANSCODE_LADDER: "360p" }, null).app.request("/api/bootstrap")).json()) as Bootstrap;
    expect(body.features.transcode).toMatchObject({ state: "unavailable", encoder: null, ffmpeg: null, ladder: "360p:800k" });
    expect(body.features.transcode["reason"]).toMatch(/no ffmpeg found .*transcoding is off; install ffmpeg or set FFMPEG_PATH/);
  });
});

describe("a room's ladder", () => {
  const offer = loadSdp("obs-h264-high");
  const post = (path: string, headers: Record<string, string> = {}) =>
    ({ method: "POST", headers: { "Content-Type": "application/sdp", ...headers }, body: offer }) as RequestInit;

  async function ladderOf(app: ReturnType<typeof server>["app"], room: string, headers: Record<string, string> = {}): Promise<unknown> {
    const res = await app.request(`/api/rooms/${room}`, { headers });
    const body = (await res.json()) as { transcode: { ladder: string; state: string } | null };
    return body.transcode && { ladder: body.transcode.ladder, state: body.transcode.state };
  }

  it("TRANSCODE_LADDER by default; ?ladder= replaces it; ?ladder=off turns it off", async () => {
    const { app } = server({ TRANSCODE_LADDER: "360p:800k" });
    expect((await app.request("/api/whip/publish/a", post(""))).status).toBe(201);
    expect(await ladderOf(app, "a")).toEqual({ ladder: "360p:800k", state: "waiting" });
    expect((await app.request("/api/whip/publish/b?ladder=480p:1M,240p", post(""))).status).toBe(201);
    expect(await ladderOf(app, "b")).toEqual({ ladder: "480p:1M,240p:400k", state: "waiting" });
    expect((await app.request("/api/whip/publish/c?ladder=off", post(""))).status).toBe(201);
    expect(await ladderOf(app, "c")).toBeNull();
  });

  it("a ladder that does not parse is 400 and leaves no room behind", async () => {
    const { app, registry } = server();
    const res = await app.request("/api/whip/publish/d?ladder=720p:lots", post(""));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('invalid ladder: "720p:lots": bitrate must look like 800k or 2.5M');
    expect(registry.get("d")).toBeUndefined();
  });

  it("a JWT's ladder claim beats the publisher's ?ladder=", async () => {
    const secret = "service-test-secret-0123456789abcdef";
    const { app } = server({ JWT_SECRET: secret });
    const token = await new SignJWT({ room: "e", ladder: "180p:200k" })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(secret));
    const auth = { Authorization: `Bearer ${token}` };
    expect((await app.request("/api/whip/publish/e?ladder=720p", post("", auth))).status).toBe(201);
    expect(await ladderOf(app, "e", auth)).toEqual({ ladder: "180p:200k", state: "waiting" });
  });
});
