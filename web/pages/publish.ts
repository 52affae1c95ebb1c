// /publish/{room}: camera, microphone or screen to the room over WHIP, with resolution, bitrate, codec and
// simulcast choices, a preview, and the numbers of what is being sent: the view. `?autostart=1` starts at once with
// the defaults (kiosks, tests). When to publish, retry or give up is decided by PublisherModel (publishModel.ts);
// this file draws its state and owns the capture and the peer connection.
import { fill, h } from "../lib/dom.ts";
import { bitrate, codecLabel } from "../lib/format.ts";
import { endSession, negotiate, outboundStats, type OutboundStats, type RemoteSession } from "../lib/rtc.ts";
import { notice, statsPanel } from "../lib/ui.ts";
import type { PageContext } from "../main.ts";
import {
  availableCodecs,
  BITRATES,
  codecOrder,
  DEFAULT_BITRATE,
  DEFAULT_RESOLUTION,
  PublisherModel,
  readSettings,
  RESOLUTIONS,
  sendEncodings,
  type PublisherSnapshot,
  type Settings,
} from "./publishModel.ts";

/** The video codecs this browser can send, as it lists them. */
function videoCaps(): RTCRtpCodec[] {
  return RTCRtpSender.getCapabilities?.("video")?.codecs ?? [];
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
  const codec = select("codec", "Video codec", [["", "Automatic"], ...availableCodecs(videoCaps()).map((c): [string, string] => [c, c])], "");
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

  // --- the capture and the connection, as the model asks ---
  let media: MediaStream | undefined;
  let pc: RTCPeerConnection | undefined;
  let session: RemoteSession | undefined;
  let lastSample: OutboundStats["sample"] | undefined;

  const model = new PublisherModel(
    room,
    {
      settings,
      capture,
      open: (attempt, s) => void publish(attempt, s),
      close,
      release,
      askToken: (reason) => ctx.token.ask(reason),
      tokenAccepted: () => ctx.token.accepted(),
      render,
    },
    { autostart, canCapture },
  );

  function settings(): Settings {
    return readSettings({
      source: source.el.value,
      cameraId: camera.el.value,
      micId: mic.el.value,
      resolution: resolution.el.value,
      bitrate: rate.el.value,
      codec: codec.el.value,
      simulcast: simulcast.checked,
    });
  }

  async function capture(s: Settings): Promise<void> {
    const stream = await getMedia(s);
    media = stream;
    preview.srcObject = stream;
    for (const t of stream.getTracks()) t.addEventListener("ended", () => model.captureEnded());
    void listDevices();
  }

  async function getMedia(s: Settings): Promise<MediaStream> {
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

  async function publish(attempt: number, s: Settings): Promise<void> {
    const stream = media;
    if (!stream) return;
    try {
      const peer = new RTCPeerConnection({ iceServers: ctx.boot.iceServers, bundlePolicy: "max-bundle" });
      pc = peer;
      const video = stream.getVideoTracks()[0];
      if (video) {
        video.contentHint = s.source === "screen" ? "detail" : "motion";
        const t = peer.addTransceiver(video, { direction: "sendonly", streams: [stream], sendEncodings: sendEncodings(s) });
        const order = codecOrder(videoCaps(), s.codec);
        if (order) t.setCodecPreferences(order);
      }
      for (const a of stream.getAudioTracks()) peer.addTransceiver(a, { direction: "sendonly", streams: [stream] });
      peer.addEventListener("connectionstatechange", () => {
        const st = peer.connectionState;
        if (st === "connected") model.connected(attempt);
        else if (st === "failed" || st === "closed") model.dropped(attempt);
      });
      const made = await negotiate(peer, endpoint);
      if (!model.negotiated(attempt)) {
        // Stopped while negotiating: this session is nobody's now.
        void endSession(made).finally(() => peer.close());
        return;
      }
      session = made;
    } catch (err) {
      model.failed(attempt, err);
    }
  }

  function close(how: "end" | "drop" | "unload"): void {
    const peer = pc;
    const ending = session;
    pc = undefined;
    session = undefined;
    lastSample = undefined;
    if (!ending) peer?.close();
    // DELETE first, then close: the graceful WHIP order (see endSession).
    else if (how === "end") void endSession(ending).finally(() => peer?.close());
    else {
      // The page is going: no time to wait for the answer, so the DELETE is sent with keepalive and the peer closed.
      if (how === "unload") void endSession(ending, true);
      peer?.close();
    }
  }

  function release(): void {
    for (const t of media?.getTracks() ?? []) t.stop();
    media = undefined;
    preview.srcObject = null;
  }

  // --- drawing the model's state ---
  let shown: PublisherSnapshot | undefined;
  function render(s: PublisherSnapshot): void {
    const before = shown;
    shown = s;
    pill.className = `pill pill-${s.pill.tone}`;
    pill.textContent = s.pill.text;
    startBtn.disabled = !s.canStart;
    stopBtn.disabled = !s.busy;
    for (const el of [source.el, camera.el, mic.el, resolution.el, rate.el, codec.el, simulcast]) el.disabled = s.busy;
    statsPanelBox.hidden = s.state !== "live";
    previewOverlay.hidden = s.capturing;
    document.title = `${s.state === "live" ? "● " : ""}Publish ${room} · roomcast`;
    // A notice is an alert: drawn again only when it changed, so it is announced once.
    if (before?.notice !== s.notice) fill(message, ...(s.notice ? [notice(s.notice.kind, s.notice.text)] : []));
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void model.start();
  });
  stopBtn.addEventListener("click", () => model.stop());
  source.el.addEventListener("change", () => {
    camera.field.hidden = source.el.value === "screen";
  });
  addEventListener("pagehide", () => model.unload());

  setInterval(() => {
    const peer = pc;
    if (!peer || model.state !== "live") return;
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

  model.init();
}
