// A real browser at both ends: headless Chromium publishes its fake camera and microphone over WHIP (VP8, then
// H264), another Chromium page plays the room over WHEP and must decode the video and receive the audio. Then the
// VP8 publisher leaves while its viewer plays: how fast does the viewer learn? A screenshot of the playing viewer
// lands in test-results/.
import { existsSync, statSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, type TestContext } from "vitest";
import { requireTool } from "../helpers/requireTool.ts";
import {
  closeAndDelete,
  inboundStats,
  launchChromium,
  openServerPage,
  pageEvents,
  playInPage,
  publishFromPage,
  screenshotViewer,
  waitForDecodedFrames,
  waitPageConnected,
  waitVideoPlaying,
  type BrowserVideoCodec,
  type PageEvent,
  type PageSession,
} from "./helpers/browser.ts";
import { sleep, startServer, waitFor, type ServerHandle } from "./helpers/server.ts";

interface RoomDetails {
  tracks: { kind: string; codec: string; packets: number }[];
  viewers: { state: string; streams: { kind: string; rttMs: number | null }[] }[];
}

interface Live {
  room: string;
  pub: Page;
  view: Page;
  published: PageSession;
  played: PageSession;
}

requireTool("chromium");

describe("Chromium publishes over WHIP, Chromium plays over WHEP", () => {
  let server: ServerHandle;
  let browser: Browser;

  beforeAll(async () => {
    [server, browser] = await Promise.all([startServer(), launchChromium()]);
  });
  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await server?.stop();
  });

  async function roomDetails(room: string): Promise<RoomDetails> {
    return (await (await fetch(`${server.url}/api/rooms/${room}`)).json()) as RoomDetails;
  }

  /** Publishes from one page and plays on another, both connected; skips the test if the codec cannot be sent. */
  async function publishAndPlay(ctx: TestContext, room: string, codec: BrowserVideoCodec): Promise<Live> {
    const [pub, view] = await Promise.all([openServerPage(browser, server.url), openServerPage(browser, server.url)]);
    // Pages left open keep capturing and decoding; on two cores that slows every later test.
    ctx.onTestFinished(() => Promise.allSettled([pub.close(), view.close()]).then(() => undefined));
    const published = await publishFromPage(pub, server.url, room, { codec });
    if (published.unsupported) ctx.skip(published.unsupported);
    await waitPageConnected(pub);
    // The server has the publisher's video flowing before the viewer asks for it.
    await waitFor(
      async () => (await roomDetails(room)).tracks.find((t) => t.kind === "video" && t.packets > 0),
      10_000,
      "publisher video packets at the server",
    );
    const played = await playInPage(view, server.url, room);
    await waitPageConnected(view);
    return { room, pub, view, published, played };
  }

  describe("VP8", () => {

    it("camera and microphone: the viewer decodes video and receives audio; screenshot; then the publisher leaves and the viewer's peer connection fails within 2 s", async (ctx) => {
      const r = await publishAndPlay(ctx, "chromium-vp8", "VP8");
      expect(r.published.answer).toMatch(/a=rtpmap:\d+ VP8\/90000/);
      expect(r.played.answer).toMatch(/a=rtpmap:\d+ VP8\/90000/);
      const details = await roomDetails(r.room);
      expect(details.tracks.map((t) => `${t.kind} ${t.codec}`).sort()).toEqual(["audio audio/opus", "video video/VP8"]);

      const stats = await waitForDecodedFrames(r.view, 30, 20_000);
      expect(stats.video?.mimeType).toBe("video/VP8");
      expect(stats.video?.frameWidth).toBeGreaterThan(0);
      expect(stats.video?.frameHeight).toBeGreaterThan(0);
      const audio = await waitFor(
        async () => {
          const s = await inboundStats(r.view);
          return (s.audio?.packetsReceived ?? 0) > 0 ? s.audio : undefined;
        },
        10_000,
        "audio packets at the viewer",
      );
      expect(audio.mimeType).toBe("audio/opus");

      // The server's sender reports (one scheduler sends them for every forwarded stream): Chromium keeps getting
      // them for both streams, which is what it syncs audio with video by. Its receiver reports echo them
      // (LSR/DLSR), so the server knows each stream's round trip only if the report's NTP fields were right.
      const first = await inboundStats(r.view);
      const reported = await waitFor(
        async () => {
          const s = await inboundStats(r.view);
          const more = (k: "video" | "audio") => (s[k]?.senderReports ?? 0) - (first[k]?.senderReports ?? 0);
          // One every 0.5-1.5 s: two more within 5 s, whichever way werift's own loop (started if werift sent the
          // first packets) stopped.
          return more("video") >= 2 && more("audio") >= 2 ? s : undefined;
        },
        5000,
        "two more sender reports at the viewer for each stream",
      );
      expect(reported.video?.senderReports).toBeGreaterThan(1);
      const rtts = await waitFor(
        async () => {
          const streams = (await roomDetails(r.room)).viewers[0]?.streams ?? [];
          return streams.length === 2 && streams.every((x) => x.rttMs !== null) ? streams : undefined;
        },
        8000,
        "a round trip for both streams from the viewer's receiver reports",
      );
      // Loopback: a round trip of a few ms, not the garbage a wrong LSR would give.
      for (const x of rtts) expect(x.rttMs ?? -1, x.kind).toBeLessThan(1000);

      const size = await waitVideoPlaying(r.view);
      // Not compared with frameWidth: under CPU load Chromium's encoder may scale down between the two reads.
      expect(size.width).toBeGreaterThan(0);
      const shot = await screenshotViewer(r.view, "chromium-viewer-vp8");
      expect(existsSync(shot)).toBe(true);
      expect(statSync(shot).size).toBeGreaterThan(1000);

      // The publisher leaves: its page closes the peer connection, then DELETEs the session. Closing first, the
      // server may already have reaped the publisher on its DTLS close_notify when the DELETE lands: 404 then.
      const t0 = Date.now();
      expect([200, 404]).toContain(await closeAndDelete(r.pub, { order: "close-first" }));
      await waitFor(async () => (await fetch(`${server.url}/api/rooms/${r.room}`)).status === 404, 2000, "room closed");
      // Waits past the bound (bounded), so a late change is reported with its time rather than as a timeout.
      await r.view
        .waitForFunction(() => window.__rc?.events.some((e) => e.what === "dtlsState" && e.state !== "connected"), undefined, {
          timeout: 5000,
          polling: 20,
        })
        .catch(() => undefined);
      // Past the 2 s bound, so the next test reads everything the viewer saw within it.
      await sleep(Math.max(0, t0 + 2200 - Date.now()));
      const seen = (await pageEvents(r.view)).filter((e) => e.at >= t0).map((e) => ({ ...e, afterMs: e.at - t0 }));
      // The server ends a viewer whose stream is gone with a fatal DTLS alert: Chromium fails the transport and
      // the peer connection at once (a close_notify would leave connectionState "connected" for 5-7 s).
      const dtls = seen.find((e) => e.what === "dtlsState");
      expect(dtls?.state, JSON.stringify(seen)).toBe("failed");
      expect(dtls?.afterMs, JSON.stringify(seen)).toBeLessThanOrEqual(2000);
      const conn = seen.find((e) => e.what === "connectionState" && e.state !== "connected");
      expect(conn?.state, JSON.stringify(seen)).toBe("failed");
      expect(conn?.afterMs, JSON.stringify(seen)).toBeLessThanOrEqual(2000);
      // The server closed the viewer's session with the room: its DELETE finds nothing.
      expect(await closeAndDelete(r.view)).toBe(404);
    });

  });

  it("H264 from Chromium's own encoder decodes in a Chromium viewer", async (ctx) => {
    const r = await publishAndPlay(ctx, "chromium-h264", "H264");
    expect(r.published.answer).toMatch(/a=rtpmap:\d+ H264\/90000/);
    expect(r.played.answer).toMatch(/a=rtpmap:\d+ H264\/90000/);
    expect((await roomDetails(r.room)).tracks.find((t) => t.kind === "video")?.codec).toBe("video/H264");

    const stats = await waitForDecodedFrames(r.view, 30, 20_000);
    expect(stats.video?.mimeType).toBe("video/H264");
    expect(stats.video?.frameWidth).toBeGreaterThan(0);
    expect(stats.video?.keyFramesDecoded).toBeGreaterThan(0);
    expect(await closeAndDelete(r.view)).toBe(200);
    expect(await closeAndDelete(r.pub)).toBe(200);
  });
});
