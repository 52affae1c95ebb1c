// OBS's WebRTC stack (libdatachannel, through node-datachannel) as the WHIP publisher: its own offer with H264
// Constrained Baseline packetization-mode=1 and Opus, then a real x264 stream made by ffmpeg, packetized and
// paced by libdatachannel. Headless Chromium must decode it over WHEP, and a libdatachannel WHEP viewer must get it.
import { statSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { requireTool } from "../helpers/requireTool.ts";
import {
  closeAndDelete,
  inboundStats,
  launchChromium,
  openServerPage,
  playInPage,
  screenshotViewer,
  waitForDecodedFrames,
  waitPageConnected,
  waitVideoPlaying,
} from "./helpers/browser.ts";
import { encodeH264Clip } from "./helpers/media.ts";
import { ldcPlay, obsPublish, type LdcViewer, type ObsPublisher } from "./helpers/obsClient.ts";
import { startServer, waitFor, type ServerHandle } from "./helpers/server.ts";

interface RoomDetails {
  tracks: { kind: string; codec: string; fmtp: string; packets: number; packetsLost: number }[];
  viewers: { state: string; codecs: string[] }[];
}

requireTool("chromium");

describe("libdatachannel (OBS) publishes H264 + Opus over WHIP", () => {
  let server: ServerHandle;
  let browser: Browser | undefined;
  let open: { pubs: ObsPublisher[]; viewers: LdcViewer[]; pages: Page[] } = { pubs: [], viewers: [], pages: [] };

  beforeAll(async () => {
    // The clip is encoded while the server and the browser start.
    [server, browser] = await Promise.all([
      startServer(),
      launchChromium(),
      encodeH264Clip({ keyintFrames: 30, frames: 180 }),
    ]);
  });
  afterEach(async () => {
    await Promise.allSettled([...open.pubs.map((p) => p.close()), ...open.viewers.map((v) => v.close()), ...open.pages.map((p) => p.close())]);
    open = { pubs: [], viewers: [], pages: [] };
  });
  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await server?.stop();
  });

  async function roomDetails(room: string): Promise<RoomDetails> {
    return (await (await fetch(`${server.url}/api/rooms/${room}`)).json()) as RoomDetails;
  }

  async function publisher(room: string, opts: Parameters<typeof obsPublish>[2]): Promise<ObsPublisher> {
    const pub = await obsPublish(server.url, room, opts);
    open.pubs.push(pub);
    return pub;
  }

  it("a Chromium WHEP viewer decodes the 640x360 H264 stream and receives the Opus audio", async () => {
    const room = "ldc-chromium";
    const [pub, page] = await Promise.all([publisher(room, { keyframeIntervalSec: 1 }), openServerPage(browser as Browser, server.url)]);
    open.pages.push(page);
    expect(pub.offer).toMatch(/a=rtpmap:96 H264\/90000/);
    expect(pub.offer).toContain("profile-level-id=42e01f;packetization-mode=1");
    expect(pub.offer).toMatch(/a=sendonly/);
    expect(pub.answer).toMatch(/a=rtpmap:96 H264\/90000/);
    expect(pub.answer).toMatch(/a=rtpmap:111 opus\/48000\/2/);

    const details = await waitFor(async () => {
      const d = await roomDetails(room);
      return d.tracks.every((t) => t.packets > 0) && d.tracks.length === 2 ? d : undefined;
    }, 10_000, "publisher packets at the server");
    expect(details.tracks.map((t) => `${t.kind} ${t.codec}`).sort()).toEqual(["audio audio/opus", "video video/H264"]);

    const played = await playInPage(page, server.url, room);
    expect(played.answer).toMatch(/a=rtpmap:\d+ H264\/90000/);
    await waitPageConnected(page);
    const stats = await waitForDecodedFrames(page, 30, 20_000);
    expect(stats.video?.mimeType).toBe("video/H264");
    expect(stats.video?.frameWidth).toBe(640);
    expect(stats.video?.frameHeight).toBe(360);
    const audio = await waitFor(async () => {
      const s = await inboundStats(page);
      return (s.audio?.packetsReceived ?? 0) > 0 ? s.audio : undefined;
    }, 10_000, "audio packets at the viewer");
    expect(audio.mimeType).toBe("audio/opus");
    expect(await waitVideoPlaying(page)).toEqual({ width: 640, height: 360 });
    const shot = await screenshotViewer(page, "ldc-viewer-h264");
    expect(statSync(shot).size).toBeGreaterThan(1000);

    expect((await roomDetails(room)).tracks.find((t) => t.kind === "video")?.packetsLost).toBe(0);

    expect(await closeAndDelete(page)).toBe(200);
    expect(await pub.close()).toBe(200);
  });

  it("a libdatachannel WHEP viewer receives SPS and IDR when the publisher ignores PLI and keyframes come every second", async () => {
    const room = "ldc-ldc";
    const pub = await publisher(room, { keyframeIntervalSec: 1, ignorePli: true });
    const viewer = await ldcPlay(server.url, room);
    open.viewers.push(viewer);
    expect(viewer.answer).toMatch(/a=rtpmap:96 H264\/90000/);
    await waitFor(
      () => viewer.videoPackets > 30 && viewer.audioPackets > 20 && viewer.nalTypes.has(7) && viewer.nalTypes.has(5),
      10_000,
      "video with SPS and IDR, and audio, at the libdatachannel viewer",
    );
    expect([...viewer.videoPayloadTypes]).toEqual([96]);
    expect([...viewer.audioPayloadTypes]).toEqual([111]);

    // The viewer asks for keyframes; the server relays them (at most one per 500 ms); the publisher gets them
    // but, ignoring PLI like OBS, sends only its scheduled IDRs: one per 30 frames.
    await waitFor(() => {
      viewer.requestKeyframe();
      return pub.plisReceived + pub.firsReceived >= 2;
    }, 10_000, "keyframe requests relayed to the publisher");
    expect(pub.keyframesOnRequest).toBe(0);
    expect(pub.keyframesSent).toBe(Math.ceil(pub.framesSent / 30));

    expect(await viewer.close()).toBe(200);
    expect(await pub.close()).toBe(200);
  });

  it("a publisher that answers PLI sends an IDR at once for a relayed keyframe request, not at its 6 s schedule", async () => {
    const room = "ldc-pli";
    // IDRs scheduled every 6 s (frames 0, 180, ...); a request makes the next frame sent an IDR.
    const pub = await publisher(room, { keyframeIntervalSec: 6, ignorePli: false });
    const viewer = await ldcPlay(server.url, room);
    open.viewers.push(viewer);
    await waitFor(
      () => {
        viewer.requestKeyframe();
        return pub.keyframesOnRequest > 0;
      },
      10_000,
      "a keyframe request answered by the publisher",
    );
    const requested = pub.keyframeRequestTimes[0] ?? 0;
    const answered = pub.keyframeTimes.find((t) => t >= requested);
    expect(answered, JSON.stringify({ requested, sent: pub.keyframeTimes })).toBeDefined();
    // One frame tick (33 ms) plus timer slack, far from the 6 s schedule.
    expect((answered ?? Infinity) - requested).toBeLessThan(1000);
    await waitFor(() => viewer.nalTypes.has(7) && viewer.nalTypes.has(5), 10_000, "SPS and IDR at the viewer");

    expect(await viewer.close()).toBe(200);
    expect(await pub.close()).toBe(200);
  });
});
