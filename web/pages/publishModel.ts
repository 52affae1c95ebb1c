// The publish page's state, without the DOM or WebRTC: start (capture, then the WHIP offer), the token and error
// paths, a kiosk's (`?autostart=1`) retries while the room is taken, reconnecting a live publish that dropped, and
// stop. Also the pure choices the page makes: the codec order to offer, the simulcast encodings, what a capture
// error means to a person. The view (publish.ts) owns the capture and the peer connection, runs what the model
// asks through PublisherPorts and reports back, tagged with the attempt it belongs to.
//
//   idle ──Start──> starting ──captured──> connecting ──connected──> live
//    ^                 │ capture refused      │  │ 409/429/5xx, kiosk   │ failed/closed
//    ├─────────────────┘                      │  └──> reconnecting <────┘ (capture kept)
//    └──── Stop, capture ended, refusal ──────┘          │ Retry-After or 5 s / 3 s
//                                                         └──> connecting
import { ApiError, describeError, isAuthError } from "../lib/api.ts";

export type PublishState = "idle" | "starting" | "connecting" | "live" | "reconnecting";

export const RESOLUTIONS = [
  { label: "360p", width: 640, height: 360 },
  { label: "540p", width: 960, height: 540 },
  { label: "720p", width: 1280, height: 720 },
  { label: "1080p", width: 1920, height: 1080 },
] as const;
export const BITRATES = [500_000, 1_000_000, 2_500_000, 4_000_000, 6_000_000] as const;
export const DEFAULT_RESOLUTION = "720p";
export const DEFAULT_BITRATE = 2_500_000;
export const VIDEO_CODECS = ["VP8", "VP9", "H264", "AV1"] as const;
/** A live publish whose connection failed is made again after this long. */
export const RECONNECT_MS = 3000;
/** A kiosk retries a taken room after this long when the server gives no Retry-After. */
export const KIOSK_RETRY_SEC = 5;

export interface Settings {
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

/** The form's values read into settings; anything unknown falls back to the defaults. */
export function readSettings(form: {
  source: string;
  cameraId: string;
  micId: string;
  resolution: string;
  bitrate: string;
  codec: string;
  simulcast: boolean;
}): Settings {
  return {
    source: form.source === "screen" ? "screen" : "camera",
    cameraId: form.cameraId,
    micId: form.micId,
    resolution: RESOLUTIONS.find((r) => r.label === form.resolution) ?? RESOLUTIONS[2],
    bitrate: Number(form.bitrate) || DEFAULT_BITRATE,
    codec: form.codec,
    simulcast: form.simulcast,
  };
}

/** A codec as RTCRtpSender.getCapabilities lists it. */
export interface CodecCapability {
  mimeType: string;
  sdpFmtpLine?: string;
}

/**
 * The codec entries to offer: the chosen codec first (H264: packetization-mode=1, Constrained Baseline first), then
 * the rest in the browser's order. Undefined leaves the browser's order (no choice, or a codec it lacks).
 */
export function codecOrder<C extends CodecCapability>(caps: readonly C[], codec: string): C[] | undefined {
  if (!codec) return undefined;
  const mine = caps.filter((c) => c.mimeType.toLowerCase() === `video/${codec.toLowerCase()}`);
  if (mine.length === 0) return undefined;
  const score = (c: C) =>
    (/packetization-mode=1/.test(c.sdpFmtpLine ?? "") ? 2 : 0) + (/profile-level-id=42e01f/.test(c.sdpFmtpLine ?? "") ? 1 : 0);
  mine.sort((a, b) => score(b) - score(a));
  return [...mine, ...caps.filter((c) => !mine.includes(c))];
}

/** The codecs of VIDEO_CODECS this browser can send, in that order. */
export function availableCodecs(caps: readonly CodecCapability[]): string[] {
  return VIDEO_CODECS.filter((name) => caps.some((c) => c.mimeType.toLowerCase() === `video/${name.toLowerCase()}`));
}

/** One encoding at the chosen bitrate, or simulcast's three (rids h, m, l): full, half and quarter size. */
export function sendEncodings(s: Pick<Settings, "bitrate" | "simulcast">): RTCRtpEncodingParameters[] {
  if (!s.simulcast) return [{ maxBitrate: s.bitrate }];
  return [
    { rid: "h", maxBitrate: s.bitrate },
    { rid: "m", maxBitrate: Math.round(s.bitrate / 3), scaleResolutionDownBy: 2 },
    { rid: "l", maxBitrate: Math.round(s.bitrate / 8), scaleResolutionDownBy: 4 },
  ];
}

/** What a getUserMedia/getDisplayMedia failure means to the person in front of the page. */
export function captureError(err: unknown, source: Settings["source"]): string {
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

export interface Notice {
  kind: "info" | "warn" | "error";
  text: string;
}

/** What the page shows; a new object whenever something in it changed. */
export interface PublisherSnapshot {
  state: PublishState;
  /** The pill's text and colour. */
  pill: { text: string; tone: "live" | "idle" | "connecting" };
  notice: Notice | undefined;
  /** Start is possible (idle, and the page may capture). */
  canStart: boolean;
  /** The form is locked while anything is on. */
  busy: boolean;
  /** A capture exists (the preview shows it). */
  capturing: boolean;
}

const PILL: Record<PublishState, string> = {
  idle: "Off air",
  starting: "Starting",
  connecting: "Connecting",
  live: "Live",
  reconnecting: "Reconnecting",
};

/** What the model asks of the page. */
export interface PublisherPorts {
  /** The form's current settings. */
  settings(): Settings;
  /** Capture camera/screen and microphone for `s` and show the preview; rejects with the browser's error. */
  capture(s: Settings): Promise<void>;
  /** Start WHIP attempt `attempt` with the capture: report with negotiated/connected/failed/dropped. */
  open(attempt: number, s: Settings): void;
  /**
   * End the connection, if any: "end" DELETEs the session, then closes the peer (the graceful WHIP order); "drop"
   * only closes the peer (the session is gone or never was); "unload" sends the DELETE with keepalive as the page goes.
   */
  close(how: "end" | "drop" | "unload"): void;
  /** Stop the capture and clear the preview. */
  release(): void;
  askToken(reason: string): void;
  tokenAccepted(): void;
  render(snapshot: PublisherSnapshot): void;
}

export class PublisherModel {
  readonly room: string;
  readonly #ports: PublisherPorts;
  /** `?autostart=1`: a kiosk, which keeps trying while the room is taken. */
  readonly #autostart: boolean;
  /** Whether the page may capture at all (a secure page with getUserMedia). */
  readonly #canCapture: boolean;

  #state: PublishState = "idle";
  #notice: Notice | undefined;
  #capturing = false;
  /** The current attempt's number, 0 when there is no connection. */
  #current = 0;
  #attempts = 0;
  /** The settings the current attempt publishes with; a kiosk's retry uses them again. */
  #settings: Settings | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(room: string, ports: PublisherPorts, opts: { autostart: boolean; canCapture: boolean }) {
    this.room = room;
    this.#ports = ports;
    this.#autostart = opts.autostart;
    this.#canCapture = opts.canCapture;
  }

  get state(): PublishState {
    return this.#state;
  }

  isCurrent(attempt: number): boolean {
    return attempt !== 0 && attempt === this.#current;
  }

  /** The page is up: show it idle, and start at once for a kiosk. */
  init(): void {
    if (!this.#canCapture) {
      this.#notice = {
        kind: "error",
        text:
          "This browser allows the camera and microphone only on secure pages: open this page over https:// " +
          "(start roomcast with TLS_SELF_SIGNED=true) or on localhost.",
      };
    }
    this.#set("idle");
    if (this.#autostart && this.#canCapture) void this.start();
  }

  /** Start pressed: capture, then publish. */
  async start(): Promise<void> {
    if (this.#state !== "idle" || !this.#canCapture) return;
    this.#notice = undefined;
    this.#set("starting");
    const s = this.#ports.settings();
    try {
      await this.#ports.capture(s);
    } catch (err) {
      this.#capturing = false;
      this.#notice = { kind: "error", text: captureError(err, s.source) };
      this.#set("idle");
      return;
    }
    // Stopped while the browser was asking for the camera: the capture is nobody's. (The cast undoes TypeScript's
    // narrowing from the check above, which does not know the await let stop() run.)
    if ((this.#state as PublishState) !== "starting") {
      this.#ports.release();
      return;
    }
    this.#capturing = true;
    this.#publish(s);
  }

  /** Stop pressed, or the capture ended; `why` is said to the person. */
  stop(why?: string): void {
    clearTimeout(this.#timer);
    this.#current = 0;
    this.#ports.close("end");
    this.#ports.release();
    this.#capturing = false;
    if (why) this.#notice = { kind: "info", text: why };
    this.#set("idle");
  }

  /** A captured track ended (the person stopped the screen share, a camera was unplugged). */
  captureEnded(): void {
    if (!this.#capturing) return;
    this.stop("The capture ended (the camera or screen share was stopped).");
  }

  /** The WHIP POST succeeded. False when the attempt is stale: the caller ends that session itself. */
  negotiated(attempt: number): boolean {
    if (!this.isCurrent(attempt)) return false;
    this.#ports.tokenAccepted();
    return true;
  }

  connected(attempt: number): void {
    if (!this.isCurrent(attempt)) return;
    this.#notice = undefined;
    this.#set("live");
  }

  /** The WHIP POST or applying its answer failed. */
  failed(attempt: number, err: unknown): void {
    if (!this.isCurrent(attempt)) return;
    this.#current = 0;
    this.#ports.close("drop");
    const text = describeError(err, `publish to “${this.room}”`);
    if (isAuthError(err)) this.#ports.askToken(text);
    // A kiosk keeps trying while the room is taken; a person decides for themselves.
    if (this.#autostart && err instanceof ApiError && (err.status === 409 || err.status === 429 || err.status >= 500)) {
      const s = this.#settings ?? this.#ports.settings();
      this.#notice = { kind: "warn", text: `${text} Trying again shortly.` };
      this.#set("reconnecting");
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.#publish(s), (err.retryAfterSec ?? KIOSK_RETRY_SEC) * 1000);
      return;
    }
    this.stop();
    this.#notice = { kind: "error", text };
    this.#render();
  }

  /** The connection failed under a live publish: keep the capture and connect again. */
  dropped(attempt: number): void {
    if (!this.isCurrent(attempt)) return;
    this.#current = 0;
    this.#ports.close("drop");
    this.#notice = { kind: "warn", text: "The connection to the server was lost; reconnecting…" };
    this.#set("reconnecting");
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#publish(this.#ports.settings()), RECONNECT_MS);
  }

  /** The page is going away. */
  unload(): void {
    clearTimeout(this.#timer);
    this.#current = 0;
    this.#ports.close("unload");
  }

  /** Stops the timer (tests; a page simply goes away). */
  dispose(): void {
    clearTimeout(this.#timer);
  }

  #publish(s: Settings): void {
    if (!this.#capturing) return;
    this.#current = ++this.#attempts;
    this.#settings = s;
    this.#set(this.#state === "reconnecting" ? "reconnecting" : "connecting");
    this.#ports.open(this.#current, s);
  }

  #set(state: PublishState): void {
    this.#state = state;
    this.#render();
  }

  #render(): void {
    const state = this.#state;
    const busy = state !== "idle";
    this.#ports.render({
      state,
      pill: { text: PILL[state], tone: state === "live" ? "live" : state === "idle" ? "idle" : "connecting" },
      notice: this.#notice,
      canStart: !busy && this.#canCapture,
      busy,
      capturing: this.#capturing,
    });
  }
}
