// /publish/{room}: camera, microphone or screen to the room over WHIP, with resolution, bitrate, codec and
// simulcast choices, a preview, and the numbers of what is being sent. `?autostart=1` starts at once with the
// defaults (kiosks, tests). A connection that drops while live is made again by itself.
import { ApiError, describeError, isAuthError } from "../lib/api.ts";
import { fill, h } from "../lib/dom.ts";
import { bitrate, codecLabel } from "../lib/format.ts";
import { endSession, negotiate, outboundStats, type OutboundStats, type RemoteSession } from "../lib/rtc.ts";
import { notice, statsPanel } from "../lib/ui.ts";
import type { PageContext } from "../main.ts";

type State = "idle" | "starting" | "connecting" | "live" | "reconnecting";

const RESOLUTIONS = [
  { label: "360p", width: 640, height: 360 },
  { label: "540p", width: 960, height: 540 },
  { label: "720p", width: 1280, height: 720 },
  { label: "1080p", width: 1920, height: 1080 },
] as const;
const BITRATES = [500_000, 1_000_000, 2_500_000, 4_000_000, 6_000_000] as const;
const DEFAULT_RESOLUTION = "720p";
const DEFAULT_BITRATE = 2_500_000;
const VIDEO_CODECS = ["VP8", "VP9", "H264", "AV1"] as const;
const RECONNECT_MS = 3000;

interface Settings {
  source: "camera" | "screen";
  cameraId: string;
  /** "" = default microphone, "none" = no sound. */
  micId: string;
  resolution: (typeof RESOLUTIONS)[number];
  bitrate: number;
  /** "" = the browser's own order. */
  codec: string;
  simulcast: boolean;
}

/** The codec entries to offer: the chosen codec first (H264: packetization-mode=1, Constrained Baseline first). */
function codecOrder(codec: string): RTCRtpCodec[] | undefined {
  const caps = RTCRtpSender.getCapabilities("video")?.codecs ?? [];
  if (!codec) return undefined;
  const mine = caps.filter((c) => c.mimeType.toLowerCase() === `video/${codec.toLowerCase()}`);
  if (mine.length === 0) return undefined;
  const score = (c: RTCRtpCodec) =>
    (/packetization-mode=1/.test(c.sdpFmtpLine ?? "") ? 2 : 0) + (/profile-level-id=42e01f/.test(c.sdpFmtpLine ?? "") ? 1 : 0);
  mine.sort((a, b) => score(b) - score(a));
  return [...mine, ...caps.filter((c) => !mine.includes(c))];
}

function availableCodecs(): string[] {
  const caps = RTCRtpSender.getCapabilities?.("video")?.codecs ?? [];
  return VIDEO_CODECS.filter((name) => caps.some((c) => c.mimeType.toLowerCase() === `video/${name.toLowerCase()}`));
}

export function renderPublish(ctx: PageContext, room: string): void {
  const endpoint = `/api/whip/publish/${encodeURIComponent(room)}`;
  const autostart = new URLSearchParams(location.search).get("autostart") === "1";
  const canCapture = window.isSecureContext && navigator.mediaDevices?.getUserMedia !== undefined;
  const canShare = canCapture && typeof navigator.mediaDevices.getDisplayMedia === "function";

  // --- the form ---
  const select = (id: string, label: string, options: [string, string][], value: string) => {
    const el = h("select", { id, name: id });
    for (const [v, text] of options) el.append(h("option", { value: v, textContent: text, selected: v === value }));
    return { el, field: h("div", { class: "field" }, h("label", { htmlFor: id, textContent: label }), el) };
  };
  const source = select("source", "Source", canShare ? [["camera", "Camera"], ["screen", "Screen"]] : [["camera", "Camera"]], "camera");
  const camera = select("camera", "Camera", [["", "Default"]], "");
  const mic = select("mic", "Microphone", [["", "Default"], ["none", "No sound"]], "");
  const resolution = select(
    "resolution",
    "Resolution",
    RESOLUTIONS.map((r) => [r.label, r.label]),
    DEFAULT_RESOLUTION,
  );
  const rate = select(
    "bitrate",
    "Bitrate",
    BITRATES.map((b) => [String(b), bitrate(b)]),
    String(DEFAULT_BITRATE),
  );
  const codec = select("codec", "Video codec", [["", "Automatic"], ...availableCodecs().map((c): [string, string] => [c, c])], "");
  const simulcast = h("input", { type: "checkbox", id: "simulcast", name: "simulcast" });
  const simulcastField = h(
    "div",
    { class: "field check" },
    simulcast,
    h("label", { htmlFor: "simulcast" }, "Simulcast (three sizes, for viewers on slow links)"),
  );
  const startBtn = h("button", { type: "submit", class: "primary", id: "start-button", textContent: "Start" });
  const stopBtn = h("button", { type: "button", class: "danger", id: "stop-button", textContent: "Stop", disabled: true });
  const form = h(
    "form",
    { class: "publish-form", attrs: { "aria-label": "Publish settings" } },
    h("div", { class: "fields" }, source.field, camera.field, mic.field, resolution.field, rate.field, codec.field, simulcastField),
    h("div", { class: "buttons" }, startBtn, stopBtn),
  );

  const preview = h("video", { id: "preview", autoplay: true, playsInline: true, muted: true });
  preview.setAttribute("muted", "");
  preview.setAttribute("aria-label", "Preview of what you publish");
  const previewEmpty = h("p", { class: "overlay-text" }, "The preview shows here once you start.");
  const previewOverlay = h("div", { class: "overlay" }, previewEmpty);
  const stage = h("div", { class: "stage", id: "publish-stage" }, preview, previewOverlay);
  const pill = h("span", { class: "pill", id: "publish-state" });
  const message = h("div", { class: "player-notice", id: "publish-message" });

  const stats = statsPanel(
    { class: "send-stats", id: "send-stats" },
    { res: "Sending", fps: "Frame rate", rate: "Bitrate", rtt: "Round trip", codec: "Codec", limit: "Limited by" },
  );
  const { box: statsPanelBox, graph } = stats;
  const { res: outRes, fps: outFps, rate: outRate, rtt: outRtt, codec: outCodec, limit: outLimit } = stats.cells;
  const watchUrl = `${location.origin}/play/${encodeURIComponent(room)}`;
  const copyBtn = h("button", { type: "button", class: "ghost small", textContent: "Copy link" });
  copyBtn.addEventListener("click", () => {
    void navigator.clipboard
      ?.writeText(watchUrl)
      .then(() => (copyBtn.textContent = "Copied"))
      .catch(() => undefined);
  });
  const share = h(
    "p",
    { class: "share", id: "share" },
    "Viewers watch at ",
    h("a", { href: `/play/${encodeURIComponent(room)}`, target: "_blank", rel: "noopener" }, watchUrl),
    " ",
    copyBtn,
  );

  fill(
    ctx.main,
    h("div", { class: "page-head" }, h("h1", null, `Publish to ${room}`), pill),
    message,
    h("div", { class: "publish-layout" }, h("div", { class: "publish-preview" }, stage, statsPanelBox), form),
    share,
  );

  if (!canCapture) {
    fill(
      message,
      notice(
        "error",
        "This browser allows the camera and microphone only on secure pages: open this page over https:// " +
          "(start roomcast with TLS_SELF_SIGNED=true) or on localhost.",
      ),
    );
    startBtn.disabled = true;
  }

  // --- state ---
  let state: State = "idle";
  let media: MediaStream | undefined;
  let pc: RTCPeerConnection | undefined;
  let session: RemoteSession | undefined;
  let reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  let lastSample: OutboundStats["sample"] | undefined;

  function setState(next: State): void {
    state = next;
    pill.className = `pill pill-${next === "live" ? "live" : next === "idle" ? "idle" : "connecting"}`;
    pill.textContent = { idle: "Off air", starting: "Starting", connecting: "Connecting", live: "Live", reconnecting: "Reconnecting" }[next];
    const busy = next !== "idle";
    startBtn.disabled = busy || !canCapture;
    stopBtn.disabled = !busy;
    for (const el of [source.el, camera.el, mic.el, resolution.el, rate.el, codec.el, simulcast]) el.disabled = busy;
    statsPanelBox.hidden = next !== "live";
    previewOverlay.hidden = media !== undefined;
    document.title = `${next === "live" ? "● " : ""}Publish ${room} · roomcast`;
  }

  function settings(): Settings {
    return {
      source: source.el.value === "screen" ? "screen" : "camera",
      cameraId: camera.el.value,
      micId: mic.el.value,
      resolution: RESOLUTIONS.find((r) => r.label === resolution.el.value) ?? RESOLUTIONS[2],
      bitrate: Number(rate.el.value) || DEFAULT_BITRATE,
      codec: codec.el.value,
      simulcast: simulcast.checked,
    };
  }

  async function capture(s: Settings): Promise<MediaStream> {
    const size = { width: { ideal: s.resolution.width }, height: { ideal: s.resolution.height }, frameRate: { ideal: 30 } };
    const audio: MediaTrackConstraints | false =
      s.micId === "none" ? false : { deviceId: s.micId ? { exact: s.micId } : undefined, echoCancellation: true, noiseSuppression: true };
    if (s.source === "screen") {
      const screen = await navigator.mediaDevices.getDisplayMedia({ video: size, audio: false });
      if (audio) {
        try {
          const micStream = await navigator.mediaDevices.getUserMedia({ audio });
          for (const t of micStream.getAudioTracks()) screen.addTrack(t);
        } catch {
          // Screen without sound rather than nothing.
        }
      }
      return screen;
    }
    return navigator.mediaDevices.getUserMedia({
      video: { ...size, deviceId: s.cameraId ? { exact: s.cameraId } : undefined },
      audio,
    });
  }

  /** Device names are readable only after permission: fill the pickers then. */
  async function listDevices(): Promise<void> {
    const devices = await navigator.mediaDevices.enumerateDevices().catch(() => []);
    const fillSelect = (el: HTMLSelectElement, kind: MediaDeviceKind, first: [string, string][]) => {
      const keep = el.value;
      const found = devices.filter((d) => d.kind === kind && d.deviceId && d.deviceId !== "default");
      el.replaceChildren(
        ...first.map(([v, t]) => h("option", { value: v, textContent: t })),
        ...found.map((d, i) => h("option", { value: d.deviceId, textContent: d.label || `${kind === "videoinput" ? "Camera" : "Microphone"} ${i + 1}` })),
      );
      el.value = [...el.options].some((o) => o.value === keep) ? keep : (first[0]?.[0] ?? "");
    };
    fillSelect(camera.el, "videoinput", [["", "Default"]]);
    fillSelect(mic.el, "audioinput", [["", "Default"], ["none", "No sound"]]);
  }

  async function start(): Promise<void> {
    if (state !== "idle") return;
    fill(message);
    setState("starting");
    const s = settings();
    try {
      media = await capture(s);
    } catch (err) {
      media = undefined;
      setState("idle");
      fill(message, notice("error", captureError(err, s.source)));
      return;
    }
    preview.srcObject = media;
    for (const t of media.getTracks()) t.addEventListener("ended", () => stop("The capture ended (the camera or screen share was stopped)."));
    void listDevices();
    await publish(s);
  }

  async function publish(s: Settings): Promise<void> {
    const stream = media;
    if (!stream) return;
    setState(state === "reconnecting" ? "reconnecting" : "connecting");
    const peer = new RTCPeerConnection({ iceServers: ctx.boot.iceServers, bundlePolicy: "max-bundle" });
    pc = peer;
    const video = stream.getVideoTracks()[0];
    if (video) {
      video.contentHint = s.source === "screen" ? "detail" : "motion";
      const sendEncodings: RTCRtpEncodingParameters[] = s.simulcast
        ? [
            { rid: "h", maxBitrate: s.bitrate },
            { rid: "m", maxBitrate: Math.round(s.bitrate / 3), scaleResolutionDownBy: 2 },
            { rid: "l", maxBitrate: Math.round(s.bitrate / 8), scaleResolutionDownBy: 4 },
          ]
        : [{ maxBitrate: s.bitrate }];
      const t = peer.addTransceiver(video, { direction: "sendonly", streams: [stream], sendEncodings });
      const order = codecOrder(s.codec);
      if (order) t.setCodecPreferences(order);
    }
    for (const a of stream.getAudioTracks()) peer.addTransceiver(a, { direction: "sendonly", streams: [stream] });
    peer.addEventListener("connectionstatechange", () => {
      if (pc !== peer) return;
      const st = peer.connectionState;
      if (st === "connected") {
        setState("live");
        fill(message);
      } else if (st === "failed" || st === "closed") {
        dropped(peer);
      }
    });
    try {
      const made = await negotiate(peer, endpoint);
      if (pc !== peer) {
        // Stopped while negotiating: this session is nobody's now.
        void endSession(made).finally(() => peer.close());
        return;
      }
      session = made;
      ctx.token.accepted();
    } catch (err) {
      if (pc !== peer) return;
      peer.close();
      pc = undefined;
      const text = describeError(err, `publish to “${room}”`);
      if (isAuthError(err)) ctx.token.ask(text);
      // A kiosk keeps trying while the room is taken; a person decides for themselves.
      if (autostart && err instanceof ApiError && (err.status === 409 || err.status === 429 || err.status >= 500)) {
        fill(message, notice("warn", `${text} Trying again shortly.`));
        setState("reconnecting");
        reconnectTimer = setTimeout(() => void publish(s), (err.retryAfterSec ?? 5) * 1000);
        return;
      }
      stop();
      fill(message, notice("error", text));
    }
  }

  /** The connection failed under a live publish: keep the capture and connect again. */
  function dropped(peer: RTCPeerConnection): void {
    if (pc !== peer) return;
    pc = undefined;
    session = undefined;
    peer.close();
    setState("reconnecting");
    fill(message, notice("warn", "The connection to the server was lost; reconnecting…"));
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(() => void publish(settings()), RECONNECT_MS);
  }

  function stop(why?: string): void {
    clearTimeout(reconnectTimer);
    const peer = pc;
    const ending = session;
    pc = undefined;
    session = undefined;
    // DELETE first, then close: the graceful WHIP order (see endSession).
    if (ending) void endSession(ending).finally(() => peer?.close());
    else peer?.close();
    for (const t of media?.getTracks() ?? []) t.stop();
    media = undefined;
    preview.srcObject = null;
    lastSample = undefined;
    setState("idle");
    if (why) fill(message, notice("info", why));
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void start();
  });
  stopBtn.addEventListener("click", () => stop());
  source.el.addEventListener("change", () => {
    camera.field.hidden = source.el.value === "screen";
  });
  addEventListener("pagehide", () => {
    // The page is going: no time to wait for the answer, so the DELETE is sent with keepalive and the peer closed.
    if (session) void endSession(session, true);
    pc?.close();
  });

  setInterval(() => {
    const peer = pc;
    if (!peer || state !== "live") return;
    void outboundStats(peer, lastSample).then((s) => {
      if (peer !== pc) return;
      lastSample = s.sample;
      outRes.textContent = s.width ? `${s.width}×${s.height}` : "—";
      outFps.textContent = s.fps ? `${Math.round(s.fps)} fps` : "—";
      outRate.textContent = bitrate(s.bitrate);
      outRtt.textContent = s.rttMs === undefined ? "—" : `${s.rttMs} ms`;
      outCodec.textContent = s.codec ? codecLabel(s.codec) : "—";
      outLimit.textContent = s.limitedBy || "nothing";
      graph.push(s.bitrate);
    });
  }, 1000);

  setState("idle");
  if (autostart && canCapture) void start();
}

function captureError(err: unknown, source: Settings["source"]): string {
  const what = source === "screen" ? "screen" : "camera or microphone";
  const name = err instanceof DOMException ? err.name : "";
  switch (name) {
    case "NotAllowedError":
      return `The browser was not allowed to use the ${what}. Allow it (the icon in the address bar) and press Start again.`;
    case "NotFoundError":
      return `No ${what} was found. Connect one, or pick "No sound" for the microphone.`;
    case "NotReadableError":
      return `The ${what} is busy: another program or tab is using it.`;
    case "OverconstrainedError":
      return "The camera cannot do this resolution; pick a smaller one.";
    default:
      return `The ${what} could not be started: ${err instanceof Error ? err.message : String(err)}`;
  }
}
