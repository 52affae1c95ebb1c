// Headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) as a WHIP publisher of its fake camera
// and microphone, and as a WHEP viewer that decodes and shows what the server forwards. Each page holds one peer
// connection on `window.__rc`; the page code below runs in the browser through page.evaluate.
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { requireTool } from "../../helpers/requireTool.ts";
import { ROOT } from "./server.ts";

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const TEST_RESULTS = join(ROOT, "test-results");

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--use-fake-ui-for-media-stream",
  "--use-fake-device-for-media-stream",
  "--allow-loopback-in-peer-connection",
  // A viewer that plays its sound (playInPage's audible) starts without a click.
  "--autoplay-policy=no-user-gesture-required",
  // Plain host candidates rather than mDNS names the server could not resolve.
  "--disable-features=WebRtcHideLocalIpsWithMdns",
  // Background tabs throttle timers and rendering; every page here must run at full speed.
  "--disable-background-timer-throttling",
  "--disable-renderer-backgrounding",
  "--disable-backgrounding-occluded-windows",
];

/** Launches headless Chromium with a fresh profile (playwright makes a temporary user data dir). */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: requireTool("chromium"), headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
}

/** A new page whose origin is the server's, so fetch() to the API is same-origin and getUserMedia is allowed. */
export async function openServerPage(browser: Browser, serverUrl: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 800, height: 500 } });
  page.setDefaultTimeout(15_000);
  await page.addInitScript(() => {
    window.__rcGathered = (pc) =>
      new Promise<void>((resolve) => {
        if (pc.iceGatheringState === "complete") return resolve();
        const timer = setTimeout(resolve, 5000);
        pc.addEventListener("icegatheringstatechange", () => {
          if (pc.iceGatheringState === "complete") {
            clearTimeout(timer);
            resolve();
          }
        });
      });
    window.__rcSignal = async (pc, url, token, what) => {
      await pc.setLocalDescription(await pc.createOffer());
      await window.__rcGathered(pc);
      const headers: Record<string, string> = { "Content-Type": "application/sdp" };
      if (token) headers.Authorization = `Bearer ${token}`;
      const postedAt = Date.now();
      const res = await fetch(url, { method: "POST", body: pc.localDescription?.sdp ?? "", headers });
      const answer = await res.text();
      const location = res.headers.get("Location");
      if (res.status !== 201 || !location) {
        pc.close();
        throw new Error(`${what} answered ${res.status}: ${answer}`);
      }
      await pc.setRemoteDescription({ type: "answer", sdp: answer });
      return { location: new URL(location, url).toString(), answer, postedAt, link: res.headers.get("Link") };
    };
  });
  const res = await page.goto(`${serverUrl}/healthz`);
  if (!res?.ok()) throw new Error(`GET /healthz from the page failed: ${res?.status()}`);
  return page;
}

export type BrowserVideoCodec = "VP8" | "VP9" | "H264" | "AV1";

/** One simulcast encoding of a publishing page (a subset of RTCRtpEncodingParameters). */
export interface SimulcastEncoding {
  rid: string;
  scaleResolutionDownBy?: number;
  maxBitrate?: number;
  maxFramerate?: number;
}

/**
 * Three layers as Chromium sends them for a 1280x720 camera: h full size, m half, l quarter. The bitrate caps keep
 * the sum (about 1.9 Mbit/s) within what Chromium's bandwidth estimate reaches on loopback in a few seconds, and
 * the two lower layers' targets low, so that the top layer switches on early in the ramp.
 */
export const THREE_LAYERS: readonly SimulcastEncoding[] = [
  { rid: "h", maxBitrate: 1_200_000 },
  { rid: "m", scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: "l", scaleResolutionDownBy: 4, maxBitrate: 150_000 },
];

export interface PageEvent {
  at: number;
  what: "connectionState" | "iceConnectionState" | "dtlsState";
  state: string;
}

interface RcState {
  pc: RTCPeerConnection;
  location: string;
  stream: MediaStream | undefined;
  events: PageEvent[];
  /** Date.now() in the page just before the WHIP/WHEP POST was sent. */
  postedAt?: number;
}

declare global {
  interface Window {
    __rc?: RcState;
    /** Resolves once the peer has gathered all its candidates (at most 5 s): WHIP/WHEP offers are not trickled. */
    __rcGathered: (pc: RTCPeerConnection) => Promise<void>;
    /** Offer, gather, POST to a WHIP/WHEP endpoint, apply the answer; closes the peer and throws unless 201. */
    __rcSignal: (
      pc: RTCPeerConnection,
      url: string,
      token: string | undefined,
      what: string,
    ) => Promise<{ location: string; answer: string; postedAt: number; link: string | null }>;
  }
}

export interface PageSession {
  location: string;
  /** The SDP answer from the server. */
  answer: string;
  /** Date.now() in the page just before the POST was sent (the page's clock). */
  postedAt?: number;
  /** Every Link header value of the 201, split. */
  links?: string[];
  /** WHEP only: the layer extension's URL (`Link rel="urn:ietf:params:whep:ext:core:layer"`), absolute. */
  layerUrl?: string;
}

const LAYER_REL = "urn:ietf:params:whep:ext:core:layer";

/** Splits a fetch() Link header (values joined by ", ") and finds the URL of `rel`, resolved against `base`. */
export function parseLinks(header: string | null, rel: string, base: string): { links: string[]; url: string | undefined } {
  const links = header === null ? [] : (header.match(/<[^>]*>(?:[^,"]|"[^"]*")*/g) ?? []).map((l) => l.trim());
  for (const link of links) {
    const m = /^<([^>]*)>(.*)$/.exec(link);
    const params = (m?.[2] ?? "").split(";").map((x) => x.trim().toLowerCase());
    if (m && params.some((x) => x === `rel="${rel}"` || x === `rel=${rel}`)) return { links, url: new URL(m[1] ?? "", base).toString() };
  }
  return { links, url: undefined };
}

export interface PublishResult extends PageSession {
  /** Why the page could not publish with the wanted codec (e.g. no H264 encoder); the session was not created. */
  unsupported?: string;
}

/** Video codecs this Chromium can send (sdpFmtpLine included), to decide whether a case can run. */
export async function senderVideoCodecs(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    (RTCRtpSender.getCapabilities("video")?.codecs ?? []).map((c) => `${c.mimeType} ${c.sdpFmtpLine ?? ""}`.trim()),
  );
}

export interface PublishOptions {
  codec: BrowserVideoCodec;
  audio?: boolean;
  token?: string;
  /** Capture size asked of the fake camera (default 640x360). */
  width?: number;
  height?: number;
  /**
   * Simulcast encodings (rids) for the video sender; `true` = THREE_LAYERS. Chromium sends as many layers as the
   * capture size allows (three need 960x540 or more).
   */
  simulcast?: boolean | readonly SimulcastEncoding[];
  /**
   * Sets the video track's contentHint to "detail", so Chromium keeps the resolution and drops frame rate when the
   * CPU is short (default: on with simulcast, where a layer's size is what a test checks; off otherwise).
   */
  maintainResolution?: boolean;
}

/**
 * Publishes the fake camera (640x360 by default, 30 fps) and microphone over WHIP with sendonly transceivers, video
 * forced to `codec` with setCodecPreferences (VP9 profile 0; H264 packetization-mode=1, Constrained Baseline
 * first), optionally as simulcast layers; a non-trickle offer POSTed once gathering completes.
 */
export async function publishFromPage(page: Page, serverUrl: string, room: string, opts: PublishOptions): Promise<PublishResult> {
  const url = `${serverUrl}/api/whip/publish/${encodeURIComponent(room)}`;
  const encodings = opts.simulcast === true ? [...THREE_LAYERS] : opts.simulcast === false || opts.simulcast === undefined ? undefined : [...opts.simulcast];
  const result = await page.evaluate(
    async ({ url, codec, audio, token, width, height, encodings, maintainResolution }) => {
      const caps = RTCRtpSender.getCapabilities("video")?.codecs ?? [];
      let wanted = caps.filter((c) => c.mimeType.toLowerCase() === `video/${codec.toLowerCase()}`);
      if (codec === "H264") {
        // packetization-mode=1 with Constrained Baseline 42e01f first: what every browser and OBS agree on.
        const score = (c: (typeof caps)[number]) =>
          (/packetization-mode=1/.test(c.sdpFmtpLine ?? "") ? 2 : 0) + (/profile-level-id=42e01f/.test(c.sdpFmtpLine ?? "") ? 1 : 0);
        wanted = wanted.filter((c) => /packetization-mode=1/.test(c.sdpFmtpLine ?? "")).sort((a, b) => score(b) - score(a));
      } else if (codec === "VP9") {
        // Profile 0 (8-bit 4:2:0): what every VP9 decoder takes. No profile-id means 0.
        wanted = wanted.filter((c) => !/profile-id=[1-9]/.test(c.sdpFmtpLine ?? ""));
      }
      if (wanted.length === 0) return { unsupported: `this Chromium offers no ${codec} encoder`, location: "", answer: "" };

      const stream = await navigator.mediaDevices.getUserMedia({
        video: { width, height, frameRate: 30 },
        audio: audio,
      });
      const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
      const events: { at: number; what: "connectionState" | "iceConnectionState" | "dtlsState"; state: string }[] = [];
      pc.addEventListener("connectionstatechange", () => events.push({ at: Date.now(), what: "connectionState", state: pc.connectionState }));
      for (const track of stream.getTracks()) {
        if (track.kind === "video" && maintainResolution) track.contentHint = "detail";
        const init: RTCRtpTransceiverInit = { direction: "sendonly", streams: [stream] };
        if (track.kind === "video" && encodings) init.sendEncodings = encodings;
        const t = pc.addTransceiver(track, init);
        if (track.kind === "video") t.setCodecPreferences(wanted);
      }
      const signalled = await window.__rcSignal(pc, url, token, "WHIP publish").catch((err: unknown) => {
        for (const t of stream.getTracks()) t.stop();
        throw err;
      });
      window.__rc = { pc, location: signalled.location, stream, events, postedAt: signalled.postedAt };
      // A literal, so TypeScript merges it with the "unsupported" answer above into one shape.
      return { location: signalled.location, answer: signalled.answer, postedAt: signalled.postedAt, link: signalled.link };
    },
    {
      url,
      codec: opts.codec,
      audio: opts.audio !== false,
      token: opts.token,
      width: opts.width ?? 640,
      height: opts.height ?? 360,
      encodings,
      maintainResolution: opts.maintainResolution ?? encodings !== undefined,
    },
  );
  if (result.unsupported) return { unsupported: result.unsupported, location: "", answer: "" };
  const { link, ...session } = result;
  return { ...session, links: parseLinks(link ?? null, "ice-server", url).links };
}

export interface PublishedEncoding {
  rid: string | undefined;
  frameWidth: number;
  frameHeight: number;
  framesEncoded: number;
  targetBitrate: number;
  bytesSent: number;
  /** Why Chromium limits this encoding ("none", "bandwidth", "cpu"). */
  qualityLimitationReason: string;
  active: boolean;
  scalabilityMode: string;
  encoderImplementation: string;
}

/** The publishing page's outbound-rtp video stats, one per encoding (per rid with simulcast), and its estimate. */
export async function outboundVideoStats(page: Page): Promise<{ encodings: PublishedEncoding[]; availableOutgoingBitrate: number }> {
  return page.evaluate(async () => {
    const rc = window.__rc;
    if (!rc) throw new Error("no peer connection on this page");
    const report = await rc.pc.getStats();
    const encodings: PublishedEncoding[] = [];
    let availableOutgoingBitrate = 0;
    report.forEach((s: Record<string, unknown>) => {
      const n = (k: string) => (typeof s[k] === "number" ? (s[k] as number) : 0);
      const str = (k: string) => (typeof s[k] === "string" ? (s[k] as string) : "");
      // The selected pair's estimate; other pairs (or none yet) report none.
      if (s.type === "transport" && typeof s.selectedCandidatePairId === "string") {
        const pair = report.get(s.selectedCandidatePairId) as { availableOutgoingBitrate?: number } | undefined;
        availableOutgoingBitrate = Math.max(availableOutgoingBitrate, pair?.availableOutgoingBitrate ?? 0);
      }
      if (s.type !== "outbound-rtp" || s.kind !== "video") return;
      encodings.push({
        rid: typeof s.rid === "string" ? s.rid : undefined,
        frameWidth: n("frameWidth"),
        frameHeight: n("frameHeight"),
        framesEncoded: n("framesEncoded"),
        targetBitrate: n("targetBitrate"),
        bytesSent: n("bytesSent"),
        qualityLimitationReason: str("qualityLimitationReason"),
        active: s.active !== false,
        scalabilityMode: str("scalabilityMode"),
        encoderImplementation: str("encoderImplementation"),
      });
    });
    return { encodings, availableOutgoingBitrate };
  });
}

/**
 * Plays the room over WHEP with recvonly video and audio transceivers, and shows the stream in an autoplaying (muted
 * unless audible)
 * <video> that fills the page. Records every connection, ICE and DTLS state change with its wall-clock time.
 */
export async function playInPage(
  page: Page,
  serverUrl: string,
  room: string,
  opts: {
    token?: string;
    /** A simulcast or transcoded layer, as WHEP `?layer=`. */
    layer?: string;
    /** Play the sound (the element unmuted): Chromium measures inbound audioLevel only for audio it plays out. */
    audible?: boolean;
  } = {},
): Promise<PageSession> {
  const query = opts.layer === undefined ? "" : `?layer=${encodeURIComponent(opts.layer)}`;
  const url = `${serverUrl}/api/whep/play/${encodeURIComponent(room)}${query}`;
  const result = await page.evaluate(
    async ({ url, token, audible }) => {
      document.body.innerHTML = "";
      document.body.style.margin = "0";
      document.body.style.background = "#000";
      const video = document.createElement("video");
      video.id = "viewer";
      video.muted = !audible;
      video.autoplay = true;
      video.playsInline = true;
      video.style.width = "640px";
      video.style.height = "360px";
      document.body.appendChild(video);

      const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
      const events: { at: number; what: "connectionState" | "iceConnectionState" | "dtlsState"; state: string }[] = [];
      pc.addEventListener("connectionstatechange", () => events.push({ at: Date.now(), what: "connectionState", state: pc.connectionState }));
      pc.addEventListener("iceconnectionstatechange", () =>
        events.push({ at: Date.now(), what: "iceConnectionState", state: pc.iceConnectionState }),
      );
      const stream = new MediaStream();
      pc.addEventListener("track", (ev) => {
        stream.addTrack(ev.track);
        if (video.srcObject !== stream) video.srcObject = stream;
        const dtls = ev.receiver.transport;
        if (dtls && !(dtls as RTCDtlsTransport & { __watched?: boolean }).__watched) {
          (dtls as RTCDtlsTransport & { __watched?: boolean }).__watched = true;
          dtls.addEventListener("statechange", () => events.push({ at: Date.now(), what: "dtlsState", state: dtls.state }));
        }
      });
      pc.addTransceiver("video", { direction: "recvonly" });
      pc.addTransceiver("audio", { direction: "recvonly" });
      const signalled = await window.__rcSignal(pc, url, token, "WHEP play");
      window.__rc = { pc, location: signalled.location, stream, events, postedAt: signalled.postedAt };
      return signalled;
    },
    { url, token: opts.token, audible: opts.audible === true },
  );
  const { link, ...session } = result;
  const { links, url: layerUrl } = parseLinks(link, LAYER_REL, url);
  return layerUrl === undefined ? { ...session, links } : { ...session, links, layerUrl };
}

/** Waits until the page's peer connection is "connected"; throws with its last states otherwise. */
export async function waitPageConnected(page: Page, timeoutMs = 15_000): Promise<void> {
  try {
    await page.waitForFunction(() => window.__rc?.pc.connectionState === "connected", undefined, {
      timeout: timeoutMs,
      polling: 50,
    });
  } catch (err) {
    const state = await page.evaluate(() => ({
      connection: window.__rc?.pc.connectionState,
      ice: window.__rc?.pc.iceConnectionState,
      events: window.__rc?.events,
    }));
    throw new Error(`page peer not connected after ${timeoutMs} ms: ${JSON.stringify(state)} (${String(err)})`);
  }
}

export interface InboundVideoStats {
  framesDecoded: number;
  framesReceived: number;
  frameWidth: number;
  frameHeight: number;
  packetsReceived: number;
  keyFramesDecoded: number;
  mimeType: string;
  decoderImplementation: string;
  /** RTCP sender reports received for this stream (remote-outbound-rtp reportsSent). */
  senderReports: number;
}

export interface InboundAudioStats {
  packetsReceived: number;
  totalAudioEnergy: number;
  /** Samples the jitter buffer has played out: rises only while audio is received and decoded. */
  totalSamplesReceived: number;
  /** 0..1, the last decoded audio's level: 0 for silence or no audio. */
  audioLevel: number;
  mimeType: string;
  senderReports: number;
}

export interface PageInboundStats {
  video: InboundVideoStats | undefined;
  audio: InboundAudioStats | undefined;
  connectionState: string;
}

/** The viewer's inbound-rtp stats per kind, from getStats(). */
export async function inboundStats(page: Page): Promise<PageInboundStats> {
  return page.evaluate(async () => {
    const rc = window.__rc;
    if (!rc) throw new Error("no peer connection on this page");
    const report = await rc.pc.getStats();
    let video: InboundVideoStats | undefined;
    let audio: InboundAudioStats | undefined;
    const mime = (codecId: unknown) => {
      const c = typeof codecId === "string" ? (report.get(codecId) as { mimeType?: string } | undefined) : undefined;
      return c?.mimeType ?? "";
    };
    // The sender reports received, per kind: remote-outbound-rtp exists once the first one has arrived.
    const reports: Record<string, number> = {};
    report.forEach((s: Record<string, unknown>) => {
      if (s.type === "remote-outbound-rtp" && typeof s.kind === "string") reports[s.kind] = typeof s.reportsSent === "number" ? s.reportsSent : 0;
    });
    report.forEach((s: Record<string, unknown>) => {
      if (s.type !== "inbound-rtp") return;
      const n = (k: string) => (typeof s[k] === "number" ? (s[k] as number) : 0);
      if (s.kind === "video") {
        video = {
          framesDecoded: n("framesDecoded"),
          framesReceived: n("framesReceived"),
          frameWidth: n("frameWidth"),
          frameHeight: n("frameHeight"),
          packetsReceived: n("packetsReceived"),
          keyFramesDecoded: n("keyFramesDecoded"),
          mimeType: mime(s.codecId),
          decoderImplementation: typeof s.decoderImplementation === "string" ? s.decoderImplementation : "",
          senderReports: reports.video ?? 0,
        };
      } else if (s.kind === "audio") {
        audio = {
          packetsReceived: n("packetsReceived"),
          totalAudioEnergy: n("totalAudioEnergy"),
          totalSamplesReceived: n("totalSamplesReceived"),
          audioLevel: n("audioLevel"),
          mimeType: mime(s.codecId),
          senderReports: reports.audio ?? 0,
        };
      }
    });
    return { video, audio, connectionState: rc.pc.connectionState };
  });
}

/** Polls getStats() until the viewer has decoded more than `minFrames` video frames; returns the last stats. */
export async function waitForDecodedFrames(page: Page, minFrames: number, timeoutMs = 20_000): Promise<PageInboundStats> {
  const end = Date.now() + timeoutMs;
  let last: PageInboundStats | undefined;
  while (Date.now() < end) {
    last = await inboundStats(page);
    if ((last.video?.framesDecoded ?? 0) > minFrames) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`viewer decoded ${last?.video?.framesDecoded ?? 0} frames in ${timeoutMs} ms, wanted > ${minFrames}: ${JSON.stringify(last)}`);
}

/**
 * Polls getStats() inside the page every `pollMs` until the first video frame is decoded, and returns the time from
 * the WHEP POST (playInPage's postedAt, the page's clock) to that poll. Throws after `timeoutMs`.
 */
export async function timeToFirstFrame(
  page: Page,
  opts: { pollMs?: number; timeoutMs?: number } = {},
): Promise<{ ms: number; postedAt: number; decodedAt: number; framesDecoded: number; keyFramesDecoded: number }> {
  return page.evaluate(
    async ({ pollMs, timeoutMs }) => {
      const rc = window.__rc;
      if (!rc?.postedAt) throw new Error("no WHEP session on this page");
      const postedAt = rc.postedAt;
      for (;;) {
        const report = await rc.pc.getStats();
        let frames = 0;
        let keyFrames = 0;
        report.forEach((s: Record<string, unknown>) => {
          if (s.type === "inbound-rtp" && s.kind === "video") {
            frames = typeof s.framesDecoded === "number" ? s.framesDecoded : 0;
            keyFrames = typeof s.keyFramesDecoded === "number" ? s.keyFramesDecoded : 0;
          }
        });
        const now = Date.now();
        if (frames >= 1) return { ms: now - postedAt, postedAt, decodedAt: now, framesDecoded: frames, keyFramesDecoded: keyFrames };
        if (now - postedAt > timeoutMs) throw new Error(`no frame decoded ${now - postedAt} ms after the WHEP POST`);
        await new Promise((r) => setTimeout(r, pollMs));
      }
    },
    { pollMs: opts.pollMs ?? 20, timeoutMs: opts.timeoutMs ?? 10_000 },
  );
}

/** The connection, ICE and DTLS state changes the page has seen, with wall-clock times. */
export async function pageEvents(page: Page): Promise<PageEvent[]> {
  return page.evaluate(() => window.__rc?.events ?? []);
}

/**
 * Ends the page's session: DELETEs its Location and closes its peer connection (stopping capture). "delete-first"
 * is the graceful WHIP/WHEP order; with "close-first" the server may already have reaped the session from the DTLS
 * close_notify when the DELETE lands, and answer 404. Returns the DELETE status.
 */
export async function closeAndDelete(
  page: Page,
  opts: { order?: "delete-first" | "close-first"; token?: string } = {},
): Promise<number> {
  return page.evaluate(
    async ({ token, closeFirst }) => {
      const rc = window.__rc;
      if (!rc) throw new Error("no peer connection on this page");
      const close = () => {
        rc.pc.close();
        for (const t of rc.stream?.getTracks() ?? []) t.stop();
      };
      if (closeFirst) close();
      const headers: Record<string, string> = {};
      if (token) headers.Authorization = `Bearer ${token}`;
      const res = await fetch(rc.location, { method: "DELETE", headers });
      if (!closeFirst) close();
      return res.status;
    },
    { token: opts.token, closeFirst: opts.order === "close-first" },
  );
}

/** Waits until the <video> element has rendered a frame of the stream. */
export async function waitVideoPlaying(page: Page, timeoutMs = 10_000): Promise<{ width: number; height: number }> {
  await page.waitForFunction(
    () => {
      const v = document.getElementById("viewer") as HTMLVideoElement | null;
      return v !== null && v.videoWidth > 0 && v.readyState >= 2 && v.currentTime > 0;
    },
    undefined,
    { timeout: timeoutMs, polling: 100 },
  );
  return page.evaluate(() => {
    const v = document.getElementById("viewer") as HTMLVideoElement;
    return { width: v.videoWidth, height: v.videoHeight };
  });
}

/** Screenshots the viewer's <video> into test-results/NAME.png and returns the path. */
export async function screenshotViewer(page: Page, name: string): Promise<string> {
  mkdirSync(TEST_RESULTS, { recursive: true });
  const path = join(TEST_RESULTS, `${name}.png`);
  rmSync(path, { force: true });
  await page.locator("#viewer").screenshot({ path, timeout: 10_000 });
  return path;
}
