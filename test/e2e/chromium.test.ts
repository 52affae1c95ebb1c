// A real browser at both ends: headless Chromium publishes its fake camera and microphone over WHIP (VP8, then
// H264), another Chromium page plays the room over WHEP and must decode the video and receive the audio. Also: a
// viewer learns quickly that the publisher left, and a screenshot of the playing viewer lands in test-results/.
import { existsSync, statSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  chromiumMissing,
  closeAndDelete,
  inboundStats,
  launchChromium,
  openServerPage,
  pageEvents,
  playInPage,
  publishFromPage,
  screenshotViewer,
  senderVideoCodecs,
  waitForDecodedFrames,
  waitPageConnected,
  waitVideoPlaying,
  type BrowserVideoCodec,
} from "./helpers/browser.ts";
import { startServer, waitFor, type ServerHandle } from "./helpers/server.ts";

interface RoomDetails {
  tracks: { kind: string; codec: string; packets: number }[];
  viewers: { state: string }[];
}

const missing = chromiumMissing();

describe.skipIf(missing !== undefined)("Chromium publishes over WHIP, Chromium plays over WHEP", () => {
  let server: ServerHandle;
  let browser: Browser;
  const pages: Page[] = [];

  beforeAll(async () => {
    [server, browser] = await Promise.all([startServer(), launchChromium()]);
  });
  afterAll(async () => {
    await Promise.allSettled(pages.map((p) => p.close()));
    await browser?.close().catch(() => undefined);
    await server?.stop();
  });

  async function page(): Promise<Page> {
    const p = await openServerPage(browser, server.url);
    pages.push(p);
    return p;
  }

  async function roomDetails(room: string): Promise<RoomDetails> {
    return (await (await fetch(`${server.url}/api/rooms/${room}`)).json()) as RoomDetails;
  }

  /** Publishes from one page and plays on another; both connected, the viewer decoding. */
  async function publishAndPlay(room: string, codec: BrowserVideoCodec) {
    const pub = await page();
    const published = await publishFromPage(pub, server.url, room, { codec });
    if (published.unsupported) return { unsupported: published.unsupported } as const;
    await waitPageConnected(pub);
    // The server has the publisher's video track flowing before the viewer asks for it.
    await waitFor(async () => (await roomDetails(room)).tracks.find((t) => t.kind === "video" && t.packets > 0), 10_000, "publisher video packets");
    const view = await page();
    await playInPage(view, server.url, room);
    await waitPageConnected(view);
    return { pub, view, published } as const;
  }

  it("VP8 camera and microphone: the viewer decodes video and receives audio; screenshot of the playing viewer", async () => {
    const room = "chromium-vp8";
    const r = await publishAndPlay(room, "VP8");
    if ("unsupported" in r) throw new Error(r.unsupported);
    expect(r.published.answer).toMatch(/a=rtpmap:\d+ VP8\/90000/);
    const details = await roomDetails(room);
    expect(details.tracks.map((t) => `${t.kind} ${t.codec}`).sort()).toEqual(["audio audio/opus", "video video/VP8"]);

    const stats = await waitForDecodedFrames(r.view, 30, 20_000);
    expect(stats.video?.mimeType).toBe("video/VP8");
    expect(stats.video?.frameWidth).toBeGreaterThan(0);
    expect(stats.video?.frameHeight).toBeGreaterThan(0);
    const audio = await waitFor(async () => {
      const s = await inboundStats(r.view);
      return (s.audio?.packetsReceived ?? 0) > 0 ? s.audio : undefined;
    }, 10_000, "audio packets at the viewer");
    expect(audio.mimeType).toBe("audio/opus");

    const size = await waitVideoPlaying(r.view);
    expect(size.width).toBe(stats.video?.frameWidth);
    const shot = await screenshotViewer(r.view, "chromium-viewer-vp8");
    expect(existsSync(shot)).toBe(true);
    expect(statSync(shot).size).toBeGreaterThan(1000);

    expect(await closeAndDelete(r.view)).toBe(200);
    expect(await closeAndDelete(r.pub)).toBe(200);
  });

  it("H264 from Chromium's encoder decodes in a Chromium viewer", async (ctx) => {
    const probe = await page();
    const codecs = await senderVideoCodecs(probe);
    if (!codecs.some((c) => /^video\/H264 .*packetization-mode=1/.test(c))) {
      ctx.skip(`this Chromium build offers no H264 (packetization-mode=1) encoder: ${codecs.join(", ")}`);
    }
    const room = "chromium-h264";
    const r = await publishAndPlay(room, "H264");
    if ("unsupported" in r) return ctx.skip(r.unsupported);
    expect(r.published.answer).toMatch(/a=rtpmap:\d+ H264\/90000/);
    expect((await roomDetails(room)).tracks.find((t) => t.kind === "video")?.codec).toBe("video/H264");

    const stats = await waitForDecodedFrames(r.view, 30, 20_000);
    expect(stats.video?.mimeType).toBe("video/H264");
    expect(stats.video?.frameWidth).toBeGreaterThan(0);
    expect(stats.video?.keyFramesDecoded).toBeGreaterThan(0);
    expect(await closeAndDelete(r.view)).toBe(200);
    expect(await closeAndDelete(r.pub)).toBe(200);
  });

  it("when the publisher closes its peer and DELETEs its session, the viewer leaves 'connected' within 2 s", async () => {
    const room = "chromium-leave";
    const r = await publishAndPlay(room, "VP8");
    if ("unsupported" in r) throw new Error(r.unsupported);
    await waitForDecodedFrames(r.view, 5, 20_000);

    const t0 = Date.now();
    expect(await closeAndDelete(r.pub)).toBe(200);
    // The room is gone on the server side at once.
    await waitFor(async () => (await fetch(`${server.url}/api/rooms/${room}`)).status === 404, 2000, "room closed");

    // Wait longer than the bound, so a failure reports what the viewer saw and when.
    const left = await r.view
      .waitForFunction(() => window.__rc?.pc.connectionState !== "connected", undefined, { timeout: 8000, polling: 50 })
      .then(() => true)
      .catch(() => false);
    const events = (await pageEvents(r.view)).filter((e) => e.at >= t0).map((e) => ({ ...e, afterMs: e.at - t0 }));
    const firstLeave = events.find((e) => e.what === "connectionState" && e.state !== "connected");
    const report = JSON.stringify(events);
    expect(left, `viewer still 'connected' 8 s after the publisher left; state changes after DELETE: ${report}`).toBe(true);
    expect(firstLeave?.afterMs, `viewer connectionState changes after the publisher's DELETE: ${report}`).toBeLessThanOrEqual(2000);
  });
});
