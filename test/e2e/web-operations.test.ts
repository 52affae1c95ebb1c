// The web app on the operations features, against the binary in headless Chromium. A stats capture of a room with
// a Chromium publisher and viewer: started by the admin API,
// drawn by the web app's /captures/{id} in headless Chromium while it runs (its canvases' lines grow) and after it
// is stopped from the page, listed on /captures, and downloaded as JSON with samples, from the page and the API.
// The graphs' screenshot lands in test-results/captures-graphs.png. And the player page on its session's WHEP
// events: Paused while a werift publisher stalls, Live again when it sends, the viewer count from them.
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CaptureFile, CaptureStarted, CaptureSummary } from "../../src/api.ts";
import { requireTool } from "../helpers/requireTool.ts";
import { launchChromium, openServerPage, TEST_RESULTS, playInPage, publishFromPage, waitForDecodedFrames, waitPageConnected } from "./helpers/browser.ts";
import { sendRealMedia } from "./helpers/realMedia.ts";
import { startServer, waitFor, type ServerHandle } from "./helpers/server.ts";
import { publish } from "./helpers/weriftPeers.ts";

requireTool("chromium");
const ADMIN = "capture-admin";
const ROOM = "captured";
const admin = { Authorization: `Bearer ${ADMIN}` };

/** Pixels of each chart's canvas drawn in a series' colour (not the grid, the marks or the background). */
async function linePixels(page: Page): Promise<Record<string, number>> {
  return page.evaluate(() => {
    const out: Record<string, number> = {};
    for (const c of document.querySelectorAll<HTMLCanvasElement>("canvas[data-chart]")) {
      const ctx = c.getContext("2d");
      if (!ctx || c.width === 0) continue;
      const px = ctx.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < px.length; i += 4) {
        const [r, g, b, a] = [px[i] ?? 0, px[i + 1] ?? 0, px[i + 2] ?? 0, px[i + 3] ?? 0];
        // Grid lines and event marks are grey (r ≈ g ≈ b); the series colours are not.
        if (a > 128 && Math.max(r, g, b) - Math.min(r, g, b) > 60) n++;
      }
      out[c.dataset.chart ?? "?"] = n;
    }
    return out;
  });
}

describe("the web app on captures and WHEP events", () => {
  let server: ServerHandle;
  let browser: Browser;

  beforeAll(async () => {
    server = await startServer({ ADMIN_TOKEN: ADMIN });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("samples a Chromium publisher and viewer, draws them live and afterwards, and downloads the JSON", async () => {
    const publisher = await openServerPage(browser, server.url);
    const pub = await publishFromPage(publisher, server.url, ROOM, { codec: "VP8", token: ADMIN });
    expect(pub.unsupported).toBeUndefined();
    await waitPageConnected(publisher);

    const started = await fetch(`${server.url}/api/admin/captures`, {
      method: "POST",
      headers: { ...admin, "Content-Type": "application/json" },
      body: JSON.stringify({ room: ROOM, maxSeconds: 120 }),
    });
    expect(started.status).toBe(201);
    const capture = (await started.json()) as CaptureStarted;
    expect(capture).toMatchObject({ room: ROOM, state: "running", maxSeconds: 120 });
    expect(started.headers.get("location")).toBe(`/api/admin/captures/${capture.id}`);
    const again = await fetch(`${server.url}/api/admin/captures`, { method: "POST", headers: admin, body: JSON.stringify({ room: ROOM }) });
    expect(again.status).toBe(409);

    // The viewer joins while the capture runs: its arrival is on the timeline.
    const viewer = await openServerPage(browser, server.url);
    await playInPage(viewer, server.url, ROOM, { token: ADMIN });
    await waitForDecodedFrames(viewer, 30);

    // The admin's page, with the token given once in the address (the app moves it to the tab's storage).
    const adminPage = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await adminPage.goto(`${server.url}/captures/${capture.id}?token=${ADMIN}`);
    await adminPage.waitForSelector("canvas[data-chart=bitrate]");
    expect(await adminPage.locator("#capture-stop").isVisible()).toBe(true);
    const early = await waitFor(async () => {
      const px = await linePixels(adminPage);
      return (px["bitrate"] ?? 0) > 0 && (px["fps"] ?? 0) > 0 && (px["viewers"] ?? 0) > 0 ? px : undefined;
    }, 20_000, "lines on the bitrate, frame rate and viewers graphs");
    // Live: the page fetches the capture again and its lines grow as samples arrive.
    await waitFor(async () => ((await linePixels(adminPage))["bitrate"] ?? 0) > (early["bitrate"] ?? 0) * 1.3, 20_000, "the bitrate line growing");
    await waitFor(async () => (await adminPage.locator("#capture-events").textContent())?.includes("viewer joined"), 10_000, "the viewer's arrival on the timeline");

    // The running capture's JSON, samples so far included.
    const live = (await (await fetch(`${server.url}/api/admin/captures/${capture.id}`, { headers: admin })).json()) as CaptureFile;
    expect(live.state).toBe("running");
    const video = live.samples.at(-1)?.tracks.find((t) => t.kind === "video");
    expect(video?.codec).toBe("video/VP8");
    expect(video?.bitrate).toBeGreaterThan(50_000);
    // The fake camera runs at 30 fps; a loaded CI machine may encode fewer, never none.
    expect(video?.frameRate).toBeGreaterThan(5);
    expect(video?.frameRate).toBeLessThanOrEqual(35);
    expect(live.samples.at(-1)?.viewers).toBe(1);
    expect(video?.layers[0]?.viewers).toBe(1);

    // Stopped from the page: the graphs stay, complete, and the page stops asking.
    await adminPage.locator("#capture-stop").click();
    await waitFor(async () => (await adminPage.locator("#capture-meta").textContent())?.includes("stopped"), 10_000, "the page to show it stopped");
    const stopped = (await (await fetch(`${server.url}/api/admin/captures/${capture.id}`, { headers: admin })).json()) as CaptureFile;
    expect(stopped).toMatchObject({ state: "stopped", stopReason: "stopped" });
    expect(stopped.samples.length).toBeGreaterThanOrEqual(live.samples.length);
    await adminPage.reload();
    await adminPage.waitForSelector("canvas[data-chart=rtt]");
    const after = await waitFor(async () => {
      const px = await linePixels(adminPage);
      return (px["bitrate"] ?? 0) > 0 && (px["viewers"] ?? 0) > 0 ? px : undefined;
    }, 10_000, "the stopped capture's graphs");
    expect(after["bitrate"]).toBeGreaterThan(early["bitrate"] ?? 0);
    expect(await adminPage.locator("#capture-stop").isVisible()).toBe(false);
    mkdirSync(TEST_RESULTS, { recursive: true });
    await adminPage.screenshot({ path: join(TEST_RESULTS, "captures-graphs.png"), fullPage: true });

    // Downloaded from the page: the same JSON.
    const [download] = await Promise.all([adminPage.waitForEvent("download"), adminPage.locator("#capture-download").click()]);
    expect(download.suggestedFilename()).toBe(`capture-${capture.id}.json`);
    const saved = JSON.parse(readFileSync((await download.path())!, "utf8")) as CaptureFile;
    expect(saved.id).toBe(capture.id);
    expect(saved.samples.length).toBe(stopped.samples.length);
    expect(saved.events.map((e) => e.type)).toContain("viewer.joined");
    // And from the API, as an attachment.
    const file = await fetch(`${server.url}/api/admin/captures/${capture.id}?download=1`, { headers: admin });
    expect(file.headers.get("content-disposition")).toBe(`attachment; filename="capture-${capture.id}.json"`);

    // Listed, on the API and on /captures.
    const list = (await (await fetch(`${server.url}/api/admin/captures`, { headers: admin })).json()) as CaptureSummary[];
    expect(list.map((c) => [c.id, c.state])).toEqual([[capture.id, "stopped"]]);
    await adminPage.goto(`${server.url}/captures`);
    await adminPage.waitForSelector(`#capture-list li[data-id="${capture.id}"]`);

    await viewer.close();
    await publisher.close();
    await adminPage.close();
  });

  it("the player shows Paused while the publisher stalls and Live when it sends again, from its session's events", async () => {
    const room = "pausing";
    const pub = await publish(server.url, room, { token: ADMIN });
    let sending = sendRealMedia(pub, { video: "vp8", seconds: 5 });
    const page = await browser.newPage({ viewport: { width: 800, height: 600 } });
    // Only the session's events can say the publisher paused: the room feed still says it is connected.
    let eventStreams = 0;
    page.on("request", (r) => {
      if (r.method() === "GET" && /\/events\/[0-9a-f]{32}$/.test(r.url())) eventStreams++;
    });
    try {
      await page.goto(`${server.url}/play/${room}?token=${ADMIN}`);
      const pill = page.locator("#player-state");
      await waitFor(async () => (await pill.textContent()) === "Live", 20_000, "the player live");
      expect(eventStreams).toBe(1);
      await waitFor(async () => (await page.locator("#viewer-count").textContent()) === "1 viewer", 5000, "the viewer count");
      const sent = await sending;
      await waitFor(async () => (await pill.textContent()) === "Paused", 10_000, "Paused on the stall");
      expect(await page.locator("#player-message").textContent()).toMatch(/paused/);
      sending = sendRealMedia(pub, { video: "vp8", seconds: 2, startSeq: 1000 + sent.videoPackets, startTimestamp: 90_000 + sent.videoFrames * 3000 });
      await waitFor(async () => (await pill.textContent()) === "Live", 10_000, "Live again");
      await sending;
    } finally {
      await page.close();
      await pub.close();
    }
  });
});
