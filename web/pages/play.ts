// /play/{room}: a WHEP player. It waits for the room's publisher (told by the events feed, so it never polls the
// server with requests that fail), connects by itself when the room goes live and again after the publisher comes
// back, starts muted so autoplay is allowed, and shows what it receives.
import { ApiError, authHeaders, describeError, errorFrom, getJson, isAuthError } from "../lib/api.ts";
import { fill, h, icon } from "../lib/dom.ts";
import { openFeed, type RoomStats } from "../lib/feed.ts";
import { bitrate, codecLabel, percent, plural } from "../lib/format.ts";
import { endSession, inboundStats, negotiate, type InboundSample, type RemoteSession } from "../lib/rtc.ts";
import { notice, statsPanel } from "../lib/ui.ts";
import type { PageContext } from "../main.ts";

type State = "waiting" | "connecting" | "live" | "refused" | "error";

/** A connection that stays "disconnected" this long is dropped and made again. */
const DISCONNECTED_GRACE_MS = 4000;
const MAX_BACKOFF_MS = 10_000;
/** After this long on the page with no event at all, the player stops waiting for the feed. */
const FEED_SILENT_MS = 5000;
/** How often a hidden tab waiting for the room asks whether it is live. */
const HIDDEN_POLL_MS = 5000;
/** The WHEP layer extension: the session's Link to the URL where a viewer reads and switches layers. */
const LAYER_REL = "urn:ietf:params:whep:ext:core:layer";

function layerLink(links: string, base: string): string | undefined {
  for (const part of links.split(/,(?=\s*<)/)) {
    const m = /<([^>]+)>\s*;(.*)$/.exec(part.trim());
    if (m?.[1] && new RegExp(`rel="?${LAYER_REL}"?`).test(m[2] ?? "")) return new URL(m[1], base).toString();
  }
  return undefined;
}

export function renderPlay(ctx: PageContext, room: string): void {
  const endpoint = `/api/whep/play/${encodeURIComponent(room)}`;

  // --- the page ---
  const video = h("video", { id: "player-video", autoplay: true, playsInline: true, muted: true });
  // Autoplay needs the attribute as well as the property in some browsers.
  video.setAttribute("muted", "");
  video.setAttribute("aria-label", `Live video of room ${room}`);
  const overlayText = h("p", { class: "overlay-text", id: "player-message" });
  const overlay = h("div", { class: "overlay", attrs: { "aria-live": "polite" } }, h("div", { class: "spinner", attrs: { "aria-hidden": "true" } }), overlayText);
  const bigUnmute = h("button", { type: "button", class: "unmute-big", id: "unmute-big", hidden: true }, icon("muted"), "Tap to unmute");

  const stats = statsPanel(
    { class: "stats-overlay", id: "stats-overlay" },
    { res: "Resolution", fps: "Frame rate", rate: "Bitrate", loss: "Packet loss", rtt: "Round trip", codec: "Codecs" },
  );
  const { box: statsBox, graph } = stats;
  const { res: statRes, fps: statFps, rate: statRate, loss: statLoss, rtt: statRtt, codec: statCodec } = stats.cells;
  const stage = h("div", { class: "stage", id: "stage" }, video, overlay, bigUnmute);

  const muteBtn = h("button", { type: "button", id: "mute-button", attrs: { "aria-keyshortcuts": "m" } });
  const statsBtn = h(
    "button",
    { type: "button", id: "stats-button", attrs: { "aria-keyshortcuts": "s", "aria-pressed": "false", "aria-controls": "stats-overlay" } },
    icon("stats"),
    "Stats",
  );
  const fsLabel = h("span", null, "Full screen");
  const fsBtn = h("button", { type: "button", id: "fullscreen-button", attrs: { "aria-keyshortcuts": "f" } }, icon("fullscreen"), fsLabel);
  const layerSelect = h("select", { id: "layer-select" });
  const layerField = h("label", { class: "layer-field", hidden: true }, "Quality", layerSelect);
  const pill = h("span", { class: "pill", id: "player-state" });
  const controls = h("div", { class: "controls", attrs: { role: "toolbar", "aria-label": "Player" } }, muteBtn, statsBtn, fsBtn, layerField);
  const player = h("div", { class: "player", id: "player" }, stage, statsBox, controls);
  const viewers = h("span", { class: "muted-text", id: "viewer-count" });
  const message = h("div", { class: "player-notice" });
  const whepUrl = `${location.origin}${endpoint}`;

  fill(
    ctx.main,
    h("div", { class: "page-head" }, h("h1", null, room), pill, viewers),
    // The stats sit over the picture on wide screens and under it on phones (see style.css); full screen takes the
    // whole player, so stats and controls stay usable there.
    player,
    message,
    h(
      "p",
      { class: "hint" },
      "Keys: M mute, F full screen, S stats. Other WHEP players: ",
      h("code", null, whepUrl),
      ". ",
      h("a", { href: `/publish/${encodeURIComponent(room)}` }, "Publish to this room"),
    ),
  );

  // --- state ---
  let state: State = "waiting";
  let pc: RTCPeerConnection | undefined;
  let session: RemoteSession | undefined;
  let disconnectTimer: ReturnType<typeof setTimeout> | undefined;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let backoffMs = 1000;
  /** Not before this time (ms): after a failed attempt the room's next stats event must not trigger a burst. */
  let notBefore = 0;
  /** What the feed last said about the room: undefined until it has spoken. */
  let roomLive: boolean | undefined;
  let lastSample: InboundSample | undefined;
  let feedHeard = false;
  /** This session's layer URL (WHEP layer extension), when the server offers one. */
  let layerUrl: string | undefined;
  /** The layer the person picked; undefined = automatic (the server follows the viewer's bandwidth). */
  let chosenLayer: string | undefined;
  /** Whether this session has been pinned to a layer (going back to automatic takes a new session). */
  let pinned = false;
  let roomLayers: { name: string; bitrate: number }[] = [];

  function setState(next: State, text = ""): void {
    state = next;
    pill.className = `pill pill-${next}`;
    pill.textContent = { waiting: "Waiting", connecting: "Connecting", live: "Live", refused: "Token needed", error: "Problem" }[next];
    stage.dataset.state = next;
    overlay.hidden = next === "live";
    overlayText.textContent = text;
    document.title = `${next === "live" ? "● " : ""}${room} · roomcast`;
    updateMuteUi();
  }

  function waitingText(): string {
    return `Waiting for the publisher of “${room}”. The video starts by itself when the room goes live.`;
  }

  // --- connection ---
  function maybeConnect(): void {
    if (state !== "waiting" && state !== "error") return;
    if (pc) return;
    // Without any word from the feed (a proxy that holds events back), try anyway, with the backoff.
    const feedSilent = !feedHeard && performance.now() > FEED_SILENT_MS;
    if (roomLive !== true && !(roomLive === undefined && feedSilent)) return;
    const wait = notBefore - Date.now();
    if (wait > 0) {
      clearTimeout(retryTimer);
      retryTimer = setTimeout(maybeConnect, wait);
      return;
    }
    void connect();
  }

  async function connect(): Promise<void> {
    clearTimeout(retryTimer);
    setState("connecting", `Connecting to “${room}”…`);
    fill(message);
    const peer = new RTCPeerConnection({ iceServers: ctx.boot.iceServers, bundlePolicy: "max-bundle" });
    pc = peer;
    const stream = new MediaStream();
    peer.addTransceiver("video", { direction: "recvonly" });
    peer.addTransceiver("audio", { direction: "recvonly" });
    peer.addEventListener("track", (ev) => {
      stream.addTrack(ev.track);
      if (video.srcObject !== stream) video.srcObject = stream;
      // A server that ends the session (publisher left) closes DTLS; that is the quickest sign.
      const dtls = ev.receiver.transport;
      dtls?.addEventListener("statechange", () => {
        if (dtls.state === "closed" || dtls.state === "failed") drop(peer, "the stream ended");
      });
    });
    peer.addEventListener("connectionstatechange", () => {
      if (pc !== peer) return;
      const s = peer.connectionState;
      if (s === "connected") {
        clearTimeout(disconnectTimer);
        disconnectTimer = undefined;
        if (state === "connecting") overlayText.textContent = "Connected. Waiting for the first picture from the publisher…";
      } else if (s === "disconnected") {
        disconnectTimer ??= setTimeout(() => drop(peer, "the connection was lost"), DISCONNECTED_GRACE_MS);
      } else if (s === "failed" || s === "closed") {
        drop(peer, "the connection failed");
      }
    });
    try {
      const made = await negotiate(peer, endpoint);
      if (pc !== peer) {
        // Torn down while negotiating: this session is nobody's now.
        void endSession(made).finally(() => peer.close());
        return;
      }
      session = made;
      backoffMs = 1000;
      ctx.token.accepted();
      void setupLayers(peer, made);
    } catch (err) {
      if (pc !== peer) return;
      teardown(false);
      failed(err);
    }
  }

  function failed(err: unknown): void {
    const text = describeError(err, `watch “${room}”`);
    if (isAuthError(err)) {
      setState("refused", text);
      ctx.token.ask(text);
      return;
    }
    if (err instanceof ApiError && err.status === 404) {
      // The publisher left between the feed's word and our offer: wait for the feed to say it is back.
      if (feedHeard) roomLive = false;
      setState("waiting", waitingText());
    } else {
      setState("error", text);
      fill(message, notice("error", text));
    }
    const delay = err instanceof ApiError && err.retryAfterSec ? err.retryAfterSec * 1000 : backoffMs;
    notBefore = Date.now() + delay;
    backoffMs = Math.min(MAX_BACKOFF_MS, backoffMs * 2);
    clearTimeout(retryTimer);
    retryTimer = setTimeout(maybeConnect, delay);
  }

  /** The connection ended under us: back to waiting, and in again as soon as the room is live. */
  function drop(peer: RTCPeerConnection, why: string): void {
    if (pc !== peer) return;
    // The server has already ended its side when it closed DTLS; a DELETE would only find nothing.
    teardown(false);
    setState("waiting", `The stream stopped (${why}). ${waitingText()}`);
    notBefore = Date.now() + 500;
    maybeConnect();
  }

  /**
   * Ends this side. `deleteSession`: tell the server (it already knows when it closed the stream itself); "unload"
   * sends the DELETE with keepalive and closes at once, as the page is going away.
   */
  function teardown(deleteSession: boolean | "unload"): void {
    clearTimeout(disconnectTimer);
    disconnectTimer = undefined;
    const peer = pc;
    const ending = session;
    pc = undefined;
    session = undefined;
    layerUrl = undefined;
    pinned = false;
    layerField.hidden = true;
    if (ending && deleteSession === true) void endSession(ending).finally(() => peer?.close());
    else {
      if (ending && deleteSession === "unload") void endSession(ending, true);
      peer?.close();
    }
    video.srcObject = null;
    lastSample = undefined;
  }

  // --- simulcast layers ---
  async function setupLayers(peer: RTCPeerConnection, made: RemoteSession): Promise<void> {
    const url = layerLink(made.links, made.location);
    if (!url) return;
    layerUrl = url;
    try {
      const res = await fetch(url, { headers: authHeaders() });
      if (!res.ok) return;
      const info = (await res.json()) as { layers?: unknown; current?: unknown };
      if (pc !== peer) return;
      const names = Array.isArray(info.layers) ? info.layers.filter((x): x is string => typeof x === "string") : [];
      if (names.length < 2) return;
      fill(
        layerSelect,
        h("option", { value: "", textContent: "Auto" }),
        ...names.map((n) => h("option", { value: n, textContent: n })),
      );
      labelLayers();
      layerField.hidden = false;
      if (chosenLayer && names.includes(chosenLayer)) await switchLayer(chosenLayer);
      layerSelect.value = chosenLayer && names.includes(chosenLayer) ? chosenLayer : "";
    } catch {
      // No picker: the stream plays on the server's automatic choice.
    }
  }

  /** Option labels with each layer's current bitrate from the feed. */
  function labelLayers(): void {
    for (const o of layerSelect.options) {
      if (!o.value) continue;
      const rate = roomLayers.find((l) => l.name === o.value)?.bitrate ?? 0;
      const text = rate > 0 ? `${o.value} · ${bitrate(rate)}` : o.value;
      if (o.textContent !== text) o.textContent = text;
    }
  }

  async function switchLayer(name: string): Promise<void> {
    if (!layerUrl) return;
    const res = await fetch(layerUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...authHeaders() },
      body: JSON.stringify({ encodingId: name }),
    });
    if (!res.ok) throw await errorFrom(res);
    pinned = true;
  }

  layerSelect.addEventListener("change", () => {
    const value = layerSelect.value;
    chosenLayer = value || undefined;
    if (chosenLayer) {
      switchLayer(chosenLayer).catch((err: unknown) => fill(message, notice("error", describeError(err, "change the quality"))));
    } else if (pinned && pc) {
      // The layer extension has no "automatic" to go back to: a new session starts on the server's choice.
      teardown(true);
      setState("waiting", "Switching to automatic quality…");
      notBefore = 0;
      maybeConnect();
    }
  });

  video.addEventListener("playing", () => {
    if (pc) setState("live");
  });

  // --- what the server says about the room ---
  function onRoom(s: RoomStats | undefined): void {
    feedHeard = true;
    const live = s !== undefined && s.hasPublisher && s.publisherState === "connected";
    roomLive = live;
    viewers.textContent = s ? plural(s.viewers, "viewer") : "";
    roomLayers = s?.tracks.find((t) => t.kind === "video")?.layers ?? [];
    labelLayers();
    if (live) maybeConnect();
    else if (!pc && state !== "refused") setState("waiting", waitingText());
  }

  openFeed(
    { room },
    {
      rooms: (all) => onRoom(all.find((r) => r.room === room)),
      opened: (r) => r.room === room && onRoom(r),
      stats: (r) => r.room === room && onRoom(r),
      viewers: (name, n) => {
        if (name === room) viewers.textContent = plural(n, "viewer");
      },
      closed: (name) => {
        if (name !== room) return;
        feedHeard = true;
        roomLive = false;
        viewers.textContent = "";
        if (pc) {
          teardown(false);
          setState("waiting", `The publisher left. ${waitingText()}`);
        }
      },
      status: (st, err) => {
        if (st === "paused") startPolling();
        else stopPolling();
        if (st === "refused") {
          teardown(false);
          const text = describeError(err, `watch “${room}”`);
          setState("refused", text);
          ctx.token.ask(text);
        } else if (st === "live" && state === "refused") {
          setState("waiting", waitingText());
        }
      },
    },
  );

  // --- while the tab is hidden (the feed is paused), a light poll of the room list still notices the room going live ---
  let pollTimer: ReturnType<typeof setInterval> | undefined;
  function startPolling(): void {
    if (pollTimer) return;
    pollTimer = setInterval(() => {
      if (pc || state === "refused") return;
      getJson<{ name: string; hasPublisher: boolean }[]>("/api/rooms")
        .then((rooms) => {
          roomLive = rooms.some((r) => r.name === room && r.hasPublisher);
          feedHeard = true;
          maybeConnect();
        })
        .catch(() => undefined);
    }, HIDDEN_POLL_MS);
  }
  function stopPolling(): void {
    clearInterval(pollTimer);
    pollTimer = undefined;
  }

  // --- controls ---
  function updateMuteUi(): void {
    fill(muteBtn, icon(video.muted ? "muted" : "sound"), video.muted ? "Unmute" : "Mute");
    muteBtn.setAttribute("aria-pressed", String(!video.muted));
    bigUnmute.hidden = !(video.muted && state === "live");
  }
  function toggleMute(): void {
    video.muted = !video.muted;
    if (!video.muted) {
      // Unmuting is a user gesture, so play() is allowed; if not, stay muted rather than stop.
      video.play().catch(() => {
        video.muted = true;
        updateMuteUi();
      });
    }
    updateMuteUi();
  }
  function toggleStats(): void {
    statsBox.hidden = !statsBox.hidden;
    statsBtn.setAttribute("aria-pressed", String(!statsBox.hidden));
    graph.draw();
  }
  function toggleFullscreen(): void {
    if (document.fullscreenElement) {
      void document.exitFullscreen();
      return;
    }
    if (player.requestFullscreen) {
      player.requestFullscreen().catch(() => undefined);
      return;
    }
    // iPhone Safari has fullscreen only on the video element, under a prefixed name.
    const v = video as HTMLVideoElement & { webkitEnterFullscreen?: () => void };
    v.webkitEnterFullscreen?.();
  }
  muteBtn.addEventListener("click", toggleMute);
  bigUnmute.addEventListener("click", toggleMute);
  statsBtn.addEventListener("click", toggleStats);
  fsBtn.addEventListener("click", toggleFullscreen);
  video.addEventListener("volumechange", updateMuteUi);
  document.addEventListener("fullscreenchange", () => {
    fsLabel.textContent = document.fullscreenElement ? "Exit full screen" : "Full screen";
  });
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target as HTMLElement | null;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) return;
    const key = e.key.toLowerCase();
    if (key === "m") toggleMute();
    else if (key === "f") toggleFullscreen();
    else if (key === "s") toggleStats();
    else return;
    e.preventDefault();
  });

  // --- stats, once a second ---
  setInterval(() => {
    const peer = pc;
    if (!peer || state !== "live") {
      graph.push(0);
      return;
    }
    void inboundStats(peer, lastSample).then((s) => {
      if (peer !== pc) return;
      lastSample = s.sample;
      statRes.textContent = s.width ? `${s.width}×${s.height}` : "—";
      statFps.textContent = s.fps ? `${Math.round(s.fps)} fps` : "—";
      statRate.textContent = bitrate(s.bitrate);
      statLoss.textContent = percent(s.loss);
      statRtt.textContent = s.rttMs === undefined ? "—" : `${s.rttMs} ms`;
      statCodec.textContent = [s.videoCodec, s.audioCodec].filter(Boolean).map(codecLabel).join(" · ") || "—";
      graph.push(s.bitrate);
    });
  }, 1000);

  addEventListener("pagehide", () => teardown("unload"));

  setState("waiting", waitingText());
  setTimeout(maybeConnect, FEED_SILENT_MS + 100);
}
