// /play/{room}: a WHEP player, the view. It waits for the room's publisher (told by the events feed, so it never
// polls the server with requests that fail), connects by itself when the room goes live and again after the
// publisher comes back, starts muted so autoplay is allowed, and shows what it receives; the session's own events
// (WHEP events extension) say when the publisher pauses, how many watch and which layers exist. When to connect,
// retry or give up is decided by PlayerModel (playModel.ts); this file draws its state and owns the peer connection.
import { authHeaders, errorFrom, getJson } from "../lib/api.ts";
import { fill, h, icon } from "../lib/dom.ts";
import { openFeed } from "../lib/feed.ts";
import { bitrate, codecLabel, percent, plural } from "../lib/format.ts";
import { endSession, inboundStats, negotiate, type InboundSample, type RemoteSession } from "../lib/rtc.ts";
import { notice, statsPanel } from "../lib/ui.ts";
import type { PageContext } from "../main.ts";
import { layerLink, linkOf, parseSessionEvent, PLAYER_EVENTS, PlayerModel, SSE_REL, type PlayerSnapshot, type PlayState } from "./playModel.ts";

const PILL: Record<PlayState, string> = { waiting: "Waiting", connecting: "Connecting", live: "Live", refused: "Token needed", error: "Problem" };

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

  // --- the connection, as the model asks ---
  let pc: RTCPeerConnection | undefined;
  let session: RemoteSession | undefined;
  /** This session's layer URL (WHEP layer extension), when the server offers one. */
  let layerUrl: string | undefined;
  /** This session's event stream (WHEP server-sent events extension), when the server offers one. */
  let sessionEvents: EventSource | undefined;
  let lastSample: InboundSample | undefined;

  const model = new PlayerModel(room, {
    open: (attempt) => void connect(attempt),
    close: teardown,
    postLayer: switchLayer,
    roomIsLive: async () => {
      const rooms = await getJson<{ name: string; hasPublisher: boolean }[]>("/api/rooms");
      return rooms.some((r) => r.name === room && r.hasPublisher);
    },
    askToken: (reason) => ctx.token.ask(reason),
    tokenAccepted: () => ctx.token.accepted(),
    render,
  });

  async function connect(attempt: number): Promise<void> {
    try {
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
          if (dtls.state === "closed" || dtls.state === "failed") model.dropped(attempt, "the stream ended");
        });
      });
      peer.addEventListener("connectionstatechange", () => model.peerState(attempt, peer.connectionState));
      const made = await negotiate(peer, endpoint);
      if (!model.negotiated(attempt)) {
        // Torn down while negotiating: this session is nobody's now.
        void endSession(made).finally(() => peer.close());
        return;
      }
      session = made;
      void setupLayers(attempt, made);
      void setupEvents(attempt, made);
    } catch (err) {
      model.failed(attempt, err);
    }
  }

  /**
   * Ends this side. `deleteSession`: tell the server (it already knows when it closed the stream itself); "unload"
   * sends the DELETE with keepalive and closes at once, as the page is going away.
   */
  function teardown(deleteSession: boolean | "unload"): void {
    const peer = pc;
    const ending = session;
    pc = undefined;
    session = undefined;
    layerUrl = undefined;
    sessionEvents?.close();
    sessionEvents = undefined;
    if (ending && deleteSession === true) void endSession(ending).finally(() => peer?.close());
    else {
      if (ending && deleteSession === "unload") void endSession(ending, true);
      peer?.close();
    }
    video.srcObject = null;
    lastSample = undefined;
  }

  async function setupLayers(attempt: number, made: RemoteSession): Promise<void> {
    const url = layerLink(made.links, made.location);
    if (!url) return;
    layerUrl = url;
    try {
      const res = await fetch(url, { headers: authHeaders() });
      if (!res.ok) return;
      const info = (await res.json()) as { layers?: unknown };
      const names = Array.isArray(info.layers) ? info.layers.filter((x): x is string => typeof x === "string") : [];
      await model.layersOffered(attempt, names);
    } catch {
      // No picker: the stream plays on the server's automatic choice.
    }
  }

  /**
   * The session's events: the player asks for the ones it shows (a POST to the Link), then listens on the stream's
   * Location. Without the extension the room feed alone tells the viewer count and layer bitrates.
   */
  async function setupEvents(attempt: number, made: RemoteSession): Promise<void> {
    const url = linkOf(made.links, SSE_REL, made.location);
    if (!url) return;
    try {
      const res = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json", ...authHeaders() }, body: JSON.stringify(PLAYER_EVENTS) });
      const where = res.headers.get("Location");
      if (res.status !== 201 || !where || !model.isCurrent(attempt)) return;
      const source = new EventSource(new URL(where, url).toString());
      sessionEvents = source;
      for (const type of PLAYER_EVENTS) {
        source.addEventListener(type, (ev) => {
          const e = parseSessionEvent(type, (ev as MessageEvent<string>).data);
          if (e) model.sessionEvent(attempt, e);
        });
      }
      // The stream ends with the session (the server answers 404 after): no reconnecting to it.
      source.addEventListener("error", () => {
        if (source.readyState === EventSource.CLOSED || !model.isCurrent(attempt)) source.close();
      });
    } catch {
      // No events: the room feed still tells the viewer count and the layers' bitrates.
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
  }

  // --- drawing the model's state ---
  let shown: PlayerSnapshot | undefined;
  function render(s: PlayerSnapshot): void {
    const before = shown;
    shown = s;
    if (before?.state !== s.state || before?.paused !== s.paused) {
      pill.className = `pill pill-${s.paused ? "paused" : s.state}`;
      pill.textContent = s.paused ? "Paused" : PILL[s.state];
      stage.dataset.state = s.paused ? "paused" : s.state;
      overlay.hidden = s.state === "live" && !s.paused;
      document.title = `${s.state === "live" && !s.paused ? "● " : ""}${room} · roomcast`;
      updateMuteUi();
    }
    if (overlayText.textContent !== s.text) overlayText.textContent = s.text;
    // A notice is an alert: drawn again only when it changed, so it is announced once.
    if (before?.notice !== s.notice) fill(message, ...(s.notice ? [notice(s.notice.kind, s.notice.text)] : []));
    const count = s.viewers === undefined ? "" : plural(s.viewers, "viewer");
    if (viewers.textContent !== count) viewers.textContent = count;
    renderLayers(s.layers);
  }

  function renderLayers(l: PlayerSnapshot["layers"]): void {
    const appearing = layerField.hidden && l.visible;
    layerField.hidden = !l.visible;
    if (!l.visible) return;
    const current = [...layerSelect.options];
    // Rebuilt only for a new session's layers, so an open list is not pulled from under the person.
    if (appearing || current.length !== l.options.length || current.some((o, i) => o.value !== l.options[i]?.value)) {
      fill(layerSelect, ...l.options.map((o) => h("option", { value: o.value, textContent: o.label })));
      layerSelect.value = l.selected;
    }
    l.options.forEach((o, i) => {
      const el = layerSelect.options[i];
      if (el && el.textContent !== o.label) el.textContent = o.label;
    });
  }

  layerSelect.addEventListener("change", () => model.chooseLayer(layerSelect.value));

  video.addEventListener("playing", () => model.playing());

  // --- what the server says about the room ---
  openFeed(
    { room },
    {
      rooms: (all) => model.roomUpdate(all.find((r) => r.room === room)),
      opened: (r) => r.room === room && model.roomUpdate(r),
      stats: (r) => r.room === room && model.roomUpdate(r),
      viewers: (name, n) => name === room && model.viewerCount(n),
      closed: (name) => name === room && model.roomClosed(),
      status: (st, err) => model.feedStatus(st, err),
    },
  );

  // --- controls ---
  function updateMuteUi(): void {
    fill(muteBtn, icon(video.muted ? "muted" : "sound"), video.muted ? "Unmute" : "Mute");
    muteBtn.setAttribute("aria-pressed", String(!video.muted));
    bigUnmute.hidden = !(video.muted && model.state === "live");
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
    if (!peer || model.state !== "live") {
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

  addEventListener("pagehide", () => model.unload());

  model.start();
}
