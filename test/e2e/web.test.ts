// The web app inside the binary, driven by headless Chromium as a person would use it: the home page lists a live
// room, /publish/{room}?autostart=1 publishes the fake camera, /play/{room} waits, plays (its <video> time
// advances), and comes back by itself after the publisher restarts; a bad token gets a sentence, not a console
// error; GET /api/events streams room events and per-second stats. Screenshots land in test-results/web-*.png.
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContext, ConsoleMessage, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireTool } from "../helpers/requireTool.ts";
import {
  closeAndDelete,
  launchChromium,
  openServerPage,
  playInPage,
  TEST_RESULTS,
  waitForDecodedFrames,
} from "./helpers/browser.ts";
import { startServer, waitFor, type ServerHandle } from "./helpers/server.ts";
import { publish, type WeriftPublisher } from "./helpers/weriftPeers.ts";

requireTool("chromium");
const AUTH_ENV = { AUTH_TOKEN: "web-secret", ROOM_TOKENS: "alpha:alpha-token", ADMIN_TOKEN: "admin-token", RECORD_ENABLED: "true" };

interface SseEvent {
  event: string;
  data: unknown;
}

/** Reads GET /api/events as a stream of parsed events until aborted. */
async function openEvents(url: string, headers: Record<string, string> = {}) {
  const ctrl = new AbortController();
  const res = await fetch(url, { headers, signal: ctrl.signal });
  const events: SseEvent[] = [];
  const done = (async () => {
    if (!res.body || res.status !== 200) return;
    const decoder = new TextDecoder();
    let buf = "";
    try {
      for await (const chunk of res.body) {
        buf += decoder.decode(chunk as Uint8Array, { stream: true });
        let end: number;
        while ((end = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) as unknown });
        }
      }
    } catch {
      // Aborted.
    }
  })();
  return {
    res,
    events,
    find: (pred: (e: SseEvent) => boolean, timeoutMs = 5000, what = "event") => waitFor(() => events.find(pred), timeoutMs, what),
    async close() {
      ctrl.abort();
      await done;
    },
  };
}

/** The page's console errors and uncaught exceptions, to assert there are none. */
function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m: ConsoleMessage) => {
    if (m.type() === "error") errors.push(`${m.text()} @ ${m.location().url}`);
  });
  page.on("pageerror", (e) => errors.push(`uncaught: ${e.message}`));
  return errors;
}

async function shot(page: Page, name: string, fullPage = false): Promise<void> {
  mkdirSync(TEST_RESULTS, { recursive: true });
  await page.screenshot({ path: join(TEST_RESULTS, `web-${name}.png`), timeout: 10_000, fullPage });
}

/** The <video> of the player has frames and its time advances by `seconds` of wall-clock play. */
async function videoAdvances(page: Page, selector: string, seconds: number): Promise<{ width: number; start: number; end: number }> {
  await page.waitForFunction(
    (sel) => {
      const v = document.querySelector<HTMLVideoElement>(sel);
      return v !== null && v.videoWidth > 0 && v.readyState >= 2 && v.currentTime > 0;
    },
    selector,
    { timeout: 20_000, polling: 100 },
  );
  const start = await page.$eval(selector, (v) => (v as HTMLVideoElement).currentTime);
  await page.waitForTimeout(seconds * 1000);
  const end = await page.$eval(selector, (v) => (v as HTMLVideoElement).currentTime);
  const width = await page.$eval(selector, (v) => (v as HTMLVideoElement).videoWidth);
  return { width, start, end };
}

describe("web app", () => {
  let server: ServerHandle;
  let authServer: ServerHandle;
  let browser: Browser;
  /** One context for all pages: a new page in it is much cheaper than a new context each time. */
  let context: BrowserContext;
  const publishers: WeriftPublisher[] = [];

  beforeAll(async () => {
    [server, authServer, browser] = await Promise.all([startServer(), startServer(AUTH_ENV), launchChromium()]);
    context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  });
  afterAll(async () => {
    await Promise.allSettled(publishers.map((p) => p.close()));
    await browser?.close().catch(() => undefined);
    await Promise.allSettled([server?.stop(), authServer?.stop()]);
  });

  async function newPage(viewport = { width: 1100, height: 760 }): Promise<{ page: Page; errors: string[] }> {
    const page = await context.newPage();
    await page.setViewportSize(viewport);
    page.setDefaultTimeout(15_000);
    return { page, errors: watchConsole(page) };
  }

  it("the binary, run in an empty folder, serves the app's HTML and bundled files; unknown /api paths stay JSON 404", async () => {
    // startServer runs the process in a fresh empty temporary folder: whatever it serves comes from the binary.
    expect(readdirSync(server.cwd).filter((f) => /\.(html|js|css)$/.test(f))).toEqual([]);
    const res = await fetch(`${server.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toMatch(/<title>roomcast<\/title>/);
    const assets = [...html.matchAll(/(?:src|href)="(\/chunk-[^"]+)"/g)].map((m) => m[1] ?? "");
    expect(assets.length).toBeGreaterThanOrEqual(2);
    for (const a of assets) {
      const r = await fetch(`${server.url}${a}`);
      expect(r.status, a).toBe(200);
      expect(r.headers.get("content-type")).toMatch(/javascript|css/);
      expect((await r.arrayBuffer()).byteLength).toBeGreaterThan(100);
    }
    for (const path of ["/play/lobby", "/publish/studio"]) {
      const r = await fetch(`${server.url}${path}`);
      expect(r.status).toBe(200);
      expect(await r.text()).toBe(html);
    }
    const api = await fetch(`${server.url}/api/nope`);
    expect(api.status).toBe(404);
    expect(await api.json()).toEqual({ error: "not found" });
    expect((await fetch(`${server.url}/nope.js`)).status).toBe(404);
  });

  it("GET /api/events: a room-opened event, viewer counts, a stats snapshot each second, room-closed; the stream is freed on disconnect", async () => {
    const sse = await openEvents(`${server.url}/api/events`);
    expect(sse.res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    await sse.find((e) => e.event === "rooms", 3000, "initial rooms event");

    const pub = await publish(server.url, "sse-room");
    publishers.push(pub);
    const opened = await sse.find((e) => e.event === "room-opened", 3000, "room-opened");
    expect(opened.data).toMatchObject({ room: "sse-room", hasPublisher: true });
    void pub.sendVideo(200, 10);
    const stats = await sse.find(
      (e) => e.event === "stats" && (e.data as { room: string; packets: number }).room === "sse-room" && (e.data as { packets: number }).packets > 0,
      5000,
      "stats with packets",
    );
    expect(stats.data).toMatchObject({ room: "sse-room", publisherState: "connected", viewers: 0 });
    const s = stats.data as { bitrate: number; loss: number; packetRate: number; tracks: { kind: string; codec: string }[] };
    expect(typeof s.bitrate).toBe("number");
    expect(s.loss).toBeGreaterThanOrEqual(0);
    expect(s.tracks.map((t) => `${t.kind} ${t.codec}`)).toContain("video video/VP8");
    const statsTimes = () => sse.events.filter((e) => e.event === "stats" && (e.data as { room: string }).room === "sse-room").length;
    const before = statsTimes();
    await waitFor(() => statsTimes() >= before + 2, 3500, "two more stats snapshots in about 2 s");

    await pub.close();
    publishers.splice(publishers.indexOf(pub), 1);
    await sse.find((e) => e.event === "room-closed" && (e.data as { room: string }).room === "sse-room", 3000, "room-closed");

    const metric = async () => /^roomcast_event_clients (\d+)/m.exec(await (await fetch(`${server.url}/metrics`)).text())?.[1];
    expect(await metric()).toBe("1");
    await sse.close();
    await waitFor(async () => (await metric()) === "0", 3000, "events client removed after disconnect");
  });

  it("GET /api/events with auth: 401 without a token; ?token= accepted; a room token sees only its room", async () => {
    const noToken = await fetch(`${authServer.url}/api/events`);
    expect(noToken.status).toBe(401);
    const wrong = await fetch(`${authServer.url}/api/events?token=nope`);
    expect(wrong.status).toBe(401);

    const alpha = await openEvents(`${authServer.url}/api/events?token=alpha-token`);
    const all = await openEvents(`${authServer.url}/api/events`, { Authorization: "Bearer web-secret" });
    expect(alpha.res.status).toBe(200);
    expect(all.res.status).toBe(200);
    const pa = await publish(authServer.url, "alpha", { token: "alpha-token" });
    const pb = await publish(authServer.url, "bravo", { token: "web-secret" });
    publishers.push(pa, pb);
    await all.find((e) => e.event === "room-opened" && (e.data as { room: string }).room === "bravo", 3000, "bravo opened (admin view)");
    await alpha.find((e) => e.event === "room-opened" && (e.data as { room: string }).room === "alpha", 3000, "alpha opened");
    await all.find((e) => e.event === "stats" && (e.data as { room: string }).room === "bravo", 3000, "bravo stats");
    await alpha.find((e) => e.event === "stats", 3000, "alpha stats");
    const seen = new Set(alpha.events.map((e) => (e.data as { room?: string }).room).filter(Boolean));
    expect([...seen]).toEqual(["alpha"]);
    await Promise.all([alpha.close(), all.close()]);
  });

  it("home lists a live room and drops it when it ends; no console errors; phone-sized too", async () => {
    const { page, errors } = await newPage();
    await page.goto(`${server.url}/`);
    await page.waitForSelector("#rooms-empty:not([hidden])");
    await shot(page, "home-empty");

    const pub = await publish(server.url, "lobby");
    publishers.push(pub);
    const sending = pub.sendVideo(250, 10);
    const card = page.locator('[data-room="lobby"]');
    await card.waitFor({ timeout: 5000 });
    await expect.poll(() => card.locator(".badge").textContent(), { timeout: 5000 }).toBe("Live");
    await expect.poll(async () => (await card.textContent()) ?? "", { timeout: 5000 }).toMatch(/VP8 · Opus/);
    await expect.poll(async () => (await card.locator("dd").nth(1).textContent()) ?? "", { timeout: 5000 }).not.toBe("0 kb/s");
    expect(await card.locator("a.button").getAttribute("href")).toBe("/play/lobby");
    await shot(page, "home-live");

    const phone = await newPage({ width: 390, height: 844 });
    await phone.page.goto(`${server.url}/`);
    await phone.page.locator('[data-room="lobby"] .badge', { hasText: "Live" }).waitFor({ timeout: 5000 });
    // Nothing wider than the screen: no sideways scrolling on a phone.
    expect(await phone.page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await shot(phone.page, "home-phone");

    // A hidden tab gives its events connection back (browsers allow 6 per server) and resumes when shown.
    const streams = async () => Number(/^roomcast_event_clients (\d+)/m.exec(await (await fetch(`${server.url}/metrics`)).text())?.[1]);
    const open = await streams();
    const setHidden = (hidden: boolean) =>
      phone.page.evaluate((h) => {
        Object.defineProperty(document, "visibilityState", { value: h ? "hidden" : "visible", configurable: true });
        document.dispatchEvent(new Event("visibilitychange"));
      }, hidden);
    await setHidden(true);
    await expect.poll(streams, { timeout: 3000 }).toBe(open - 1);
    await setHidden(false);
    await expect.poll(streams, { timeout: 3000 }).toBe(open);

    await sending;
    await pub.close();
    publishers.splice(publishers.indexOf(pub), 1);
    await card.waitFor({ state: "detached", timeout: 5000 });
    await page.waitForSelector("#rooms-empty:not([hidden])");
    // No recordings section when the server does not record.
    expect(await page.locator("#recordings").count()).toBe(0);
    expect(errors).toEqual([]);
    expect(phone.errors).toEqual([]);
    await Promise.all([page.close(), phone.page.close()]);
  });

  it("player waits, plays the publish page's camera (?autostart=1), survives a publisher restart; a WHEP viewer decodes it", async () => {
    const room = "studio";
    const player = await newPage();
    await player.page.goto(`${server.url}/play/${room}`);
    await player.page.locator("#player-state", { hasText: "Waiting" }).waitFor();
    expect(await player.page.locator("#player-message").textContent()).toMatch(/Waiting for the publisher/);
    await shot(player.page, "play-waiting");

    const pub = await newPage();
    await pub.page.goto(`${server.url}/publish/${room}?autostart=1`);
    await pub.page.locator("#publish-state", { hasText: "Live" }).waitFor({ timeout: 20_000 });

    // The player connects by itself, and its video plays: currentTime advances with the clock.
    await player.page.locator("#player-state", { hasText: "Live" }).waitFor({ timeout: 20_000 });
    const played = await videoAdvances(player.page, "#player-video", 2);
    expect(played.width).toBeGreaterThan(0);
    expect(played.end - played.start).toBeGreaterThan(1.2);
    await player.page.keyboard.press("s");
    await expect.poll(() => player.page.locator("#stats-overlay dd").first().textContent(), { timeout: 5000 }).toMatch(/^\d+×\d+$/);
    await player.page.waitForTimeout(1000);
    await shot(player.page, "play-live");
    await expect.poll(() => pub.page.locator("#send-stats dd").first().textContent(), { timeout: 5000 }).toMatch(/^\d+×\d+$/);
    await shot(pub.page, "publish-live");
    // Both pages on a phone-sized screen: nothing wider than the screen.
    for (const [p, name] of [[player.page, "play-phone"], [pub.page, "publish-phone"]] as const) {
      await p.setViewportSize({ width: 390, height: 844 });
      expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      await shot(p, name);
    }

    // An independent WHEP viewer decodes what the publish page sends.
    const viewer = await openServerPage(browser, server.url);
    await playInPage(viewer, server.url, room);
    const decoded = await waitForDecodedFrames(viewer, 20, 20_000);
    expect(decoded.video?.frameWidth).toBeGreaterThan(0);
    expect(await closeAndDelete(viewer)).toBe(200);
    await viewer.close();

    // The publisher stops: the player goes back to waiting; it starts again: the player plays again by itself.
    await pub.page.click("#stop-button");
    await player.page.locator("#player-state", { hasText: "Waiting" }).waitFor({ timeout: 5000 });
    await pub.page.click("#start-button");
    await player.page.locator("#player-state", { hasText: "Live" }).waitFor({ timeout: 20_000 });
    const again = await videoAdvances(player.page, "#player-video", 1);
    expect(again.end - again.start).toBeGreaterThan(0.5);

    await pub.page.click("#stop-button");
    expect(player.errors).toEqual([]);
    expect(pub.errors).toEqual([]);
    await Promise.all([player.page.close(), pub.page.close()]);
  });

  it("recordings: a published room's files are listed, one plays in the page, delete asks for the admin token then works", async () => {
    // The auth server records (RECORD_ENABLED): tokens go in ?token= for the file links and the admin token deletes.
    const pub = await newPage();
    await pub.page.goto(`${authServer.url}/publish/rec?autostart=1&token=web-secret`);
    await pub.page.locator("#publish-state", { hasText: "Live" }).waitFor({ timeout: 20_000 });
    await waitFor(
      async () => {
        const r = await fetch(`${authServer.url}/api/rooms/rec`, { headers: { Authorization: "Bearer web-secret" } });
        const d = (await r.json()) as { tracks?: { kind: string; packets: number }[] };
        return (d.tracks?.find((t) => t.kind === "video")?.packets ?? 0) > 100;
      },
      15_000,
      "two seconds or so of video recorded",
    );
    await pub.page.click("#stop-button");
    await pub.page.close();

    const { page, errors } = await newPage();
    await page.goto(`${authServer.url}/?token=web-secret`);
    // A browser plays the remuxed MKV (with ffmpeg) or the Ogg/Opus audio; IVF and H264 are for download.
    const playable = page.locator('.record[data-name^="rec_"]').filter({ has: page.locator("button", { hasText: "Play" }) });
    await expect
      .poll(async () => playable.count(), { timeout: 15_000, interval: 500 })
      .toBeGreaterThan(0);
    const ivf = page.locator('.record[data-name$=".ivf"][data-name^="rec_"]');
    expect(await ivf.count()).toBe(1);
    expect(await ivf.locator("a", { hasText: "Download" }).getAttribute("href")).toMatch(/^\/records\/rec_video0_\d+\.ivf\?token=web-secret$/);

    const row = playable.first();
    await row.locator("button", { hasText: "Play" }).click();
    await page.waitForFunction(
      () => {
        const m = document.querySelector<HTMLMediaElement>(".record-player video, .record-player audio");
        return m !== null && m.currentTime > 0.3 && Number.isFinite(m.duration) && m.duration > 0.5;
      },
      undefined,
      { timeout: 15_000, polling: 100 },
    );
    await shot(page, "home-recordings", true);

    // The list reloads when any room opens or closes (here: Refresh): the open player stays, the same element, and
    // is not paused by the move. Before, the reload dropped it, which also raced the wait above when the room's
    // close arrived after the click.
    await page.evaluate(() => {
      const m = document.querySelector<HTMLMediaElement>(".record-player video, .record-player audio");
      if (m) m.dataset.mark = "kept";
      for (const li of document.querySelectorAll<HTMLElement>(".record")) li.dataset.stale = "1";
    });
    await page.locator("#recordings button", { hasText: "Refresh" }).click();
    await page.waitForFunction(() => document.querySelector(".record") !== null && document.querySelector(".record[data-stale]") === null, undefined, {
      timeout: 5000,
    });
    expect(
      await page.evaluate(() => {
        const m = document.querySelector<HTMLMediaElement>(".record-player [data-mark=kept]");
        const row = m?.closest(".record");
        return {
          kept: m !== null,
          playing: m !== null && (!m.paused || m.ended),
          button: row?.querySelector("button")?.textContent,
        };
      }),
    ).toEqual({ kept: true, playing: true, button: "Close" });

    // With the viewing token, Delete is refused and says what it needs; with the admin token the file goes.
    const name = await ivf.getAttribute("data-name");
    page.on("dialog", (d) => void d.accept());
    await ivf.locator("button", { hasText: "Delete" }).click();
    await expect.poll(() => page.locator(".records-status").textContent(), { timeout: 5000 }).toMatch(/Only the admin token can delete/);
    await page.click("#token-toggle");
    await page.fill("#token-input", "admin-token");
    await page.keyboard.press("Enter");
    await ivf.locator("button", { hasText: "Delete" }).click();
    await ivf.waitFor({ state: "detached", timeout: 5000 });
    const left = (await (await fetch(`${authServer.url}/api/records`, { headers: { Authorization: "Bearer admin-token" } })).json()) as { name: string }[];
    expect(left.map((r) => r.name)).not.toContain(name);
    // The refused DELETE is an HTTP answer the browser logs itself; nothing else may reach the console.
    expect(errors.filter((e) => !/status of 401/.test(e))).toEqual([]);
    await page.close();
  });

  it("a bad token gets a sentence a person understands, and the right token in the field lets the page in", async () => {
    const home = await newPage();
    await home.page.goto(`${authServer.url}/`);
    // No token yet: the field is open and says why.
    await home.page.locator("#token-form:not([hidden])").waitFor();
    await expect.poll(() => home.page.locator("#token-reason").textContent(), { timeout: 5000 }).toMatch(/needs a token/);
    await shot(home.page, "home-token-needed");
    await home.page.fill("#token-input", "web-secret");
    await home.page.keyboard.press("Enter");
    await home.page.waitForSelector("#rooms-empty:not([hidden]), #room-list:not([hidden])");
    await expect.poll(() => home.page.locator(".feed-state").textContent(), { timeout: 5000 }).toBe("");

    const play = await newPage();
    await play.page.goto(`${authServer.url}/play/alpha?token=wrong-token`);
    await expect.poll(() => play.page.locator("#player-message").textContent(), { timeout: 5000 }).toMatch(/token was not accepted/);
    expect(await play.page.locator("#player-state").textContent()).toBe("Token needed");
    // ?token= was taken into the tab's storage and out of the address bar.
    expect(play.page.url()).toBe(`${authServer.url}/play/alpha`);
    await shot(play.page, "play-bad-token");

    // The refusals are HTTP answers the browser itself logs; nothing else may reach the console.
    const other = [...home.errors, ...play.errors].filter((e) => !/status of 401|EventSource's response has a status 401/.test(e));
    expect(other).toEqual([]);
    await Promise.all([home.page.close(), play.page.close()]);
  });
});
