// The player's state, without the DOM or WebRTC: when to connect (the feed says the room is live, or has been
// silent too long), the backoff between attempts, waiting for the publisher again after it leaves, the refused
// (token) and error paths, the grace for a disconnected connection, the quality picker, and the light poll of a
// hidden tab. The view (play.ts) owns the peer connection and the page, runs what the model asks through
// PlayerPorts and reports back what happened, tagged with the attempt it belongs to.
//
//   waiting ──room live──> connecting ──video playing──> live
//      ^                     │  │                          │
//      │   404 / dropped     │  └─401/403──> refused       │ publisher left, DTLS closed,
//      └─────────────────────┘               │ (feed or    │ failed, 4 s disconnected
//      ^  backoff 1 s … 10 s or Retry-After  │  new token) │
//      └── error <── other refusals ─────────┘ <───────────┘
import { ApiError, describeError, isAuthError } from "../lib/api.ts";
import type { RoomStats } from "../lib/feed.ts";
import { LayerPicker, type LayerOption } from "./layerPicker.ts";

export type PlayState = "waiting" | "connecting" | "live" | "refused" | "error";

/** A connection that stays "disconnected" this long is dropped and made again. */
export const DISCONNECTED_GRACE_MS = 4000;
export const FIRST_BACKOFF_MS = 1000;
export const MAX_BACKOFF_MS = 10_000;
/** After this long on the page with no event at all, the player stops waiting for the feed. */
export const FEED_SILENT_MS = 5000;
/** How often a hidden tab waiting for the room asks whether it is live. */
export const HIDDEN_POLL_MS = 5000;
/** After a connection ends under the player, the next attempt waits this long. */
export const REJOIN_DELAY_MS = 500;
/** The WHEP layer extension: the session's Link to the URL where a viewer reads and switches layers. */
export const LAYER_REL = "urn:ietf:params:whep:ext:core:layer";
/** The WHEP server-sent events extension (draft-ietf-wish-whep-02): where a player asks for the session's events. */
export const SSE_REL = "urn:ietf:params:whep:ext:core:server-sent-events";
/** The events the player listens to. */
export const PLAYER_EVENTS = ["active", "inactive", "layers", "viewercount"] as const;

/** The URL of relation `rel` in a session's `Link` headers, absolute against `base`, or undefined. */
export function linkOf(links: string, rel: string, base: string): string | undefined {
  for (const part of links.split(/,(?=\s*<)/)) {
    const m = /<([^>]+)>\s*;(.*)$/.exec(part.trim());
    if (m?.[1] && (m[2] ?? "").split(";").some((p) => p.trim() === `rel="${rel}"` || p.trim() === `rel=${rel}`)) return new URL(m[1], base).toString();
  }
  return undefined;
}

/** The layer URL in a session's `Link` headers, absolute against `base`, or undefined. */
export function layerLink(links: string, base: string): string | undefined {
  return linkOf(links, LAYER_REL, base);
}

/** What a session's event stream said, as the model takes it. */
export type SessionEvent =
  | { type: "active" }
  | { type: "inactive" }
  | { type: "viewercount"; viewercount: number }
  | { type: "layers"; layers: { name: string; bitrate: number }[] };

/**
 * One message of the event stream: its type and its JSON data. The draft's "layers" has, per m-line, a list of
 * {rid, bitrate}; the video m-line's list is the one (a player has one video). Anything else is ignored.
 */
export function parseSessionEvent(type: string, data: string): SessionEvent | undefined {
  let body: unknown;
  try {
    body = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (type === "active" || type === "inactive") return { type };
  if (type === "viewercount") {
    const n = (body as { viewercount?: unknown } | null)?.viewercount;
    return typeof n === "number" && Number.isFinite(n) && n >= 0 ? { type, viewercount: n } : undefined;
  }
  if (type === "layers" && typeof body === "object" && body !== null) {
    const lists = Object.values(body as Record<string, unknown>).filter(Array.isArray) as unknown[][];
    const list = lists.find((l) => l.length > 0) ?? [];
    const layers = list.flatMap((l) => {
      const { rid, bitrate } = (l ?? {}) as { rid?: unknown; bitrate?: unknown };
      return typeof rid === "string" ? [{ name: rid, bitrate: typeof bitrate === "number" ? bitrate : 0 }] : [];
    });
    return { type, layers };
  }
  return undefined;
}

/** Over the last picture while the session's events say the publication is inactive. */
export const PAUSED_TEXT = "The publisher has paused. The picture comes back by itself when it sends again.";

export interface Notice {
  kind: "error";
  text: string;
}

/** What the page shows; a new object whenever something in it changed. */
export interface PlayerSnapshot {
  state: PlayState;
  /** The text over the picture (empty while live). */
  text: string;
  /** The message under the player, if any. */
  notice: Notice | undefined;
  /** The room's viewer count from the feed or the session's events; undefined when the room is not open. */
  viewers: number | undefined;
  /** Connected, but the session's events say the publication is inactive (the publisher stalled). */
  paused: boolean;
  layers: { visible: boolean; options: LayerOption[]; selected: string };
}

/** What the model asks of the page. */
export interface PlayerPorts {
  /** Start connection attempt `attempt`: a peer, the WHEP offer; report with negotiated/failed/peerState/dropped. */
  open(attempt: number): void;
  /**
   * End the current connection, if any. `deleteSession`: tell the server first (false when the server ended it);
   * "unload": the page is going, send the DELETE with keepalive and close at once.
   */
  close(deleteSession: boolean | "unload"): void;
  /** Move the current session to a layer (POST {layer URL}); rejects with the server's refusal. */
  postLayer(name: string): Promise<void>;
  /** Whether the room has a publisher, asked of GET /api/rooms while the feed is paused. */
  roomIsLive(): Promise<boolean>;
  askToken(reason: string): void;
  tokenAccepted(): void;
  render(snapshot: PlayerSnapshot): void;
}

export class PlayerModel {
  readonly room: string;
  readonly picker = new LayerPicker();
  readonly #ports: PlayerPorts;
  readonly #startedAt = Date.now();

  #state: PlayState = "waiting";
  #text = "";
  #notice: Notice | undefined;
  #viewers: number | undefined;
  /** The session's events said "inactive" (and not "active" since). */
  #paused = false;
  /** The current attempt's number, 0 when there is no connection. */
  #current = 0;
  #attempts = 0;
  #backoffMs = FIRST_BACKOFF_MS;
  /** Not before this time (ms): after a failed attempt the room's next stats event must not trigger a burst. */
  #notBefore = 0;
  /** What the feed last said about the room: undefined until it has spoken. */
  #roomLive: boolean | undefined;
  #feedHeard = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #disconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #pollTimer: ReturnType<typeof setInterval> | undefined;
  #silenceTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(room: string, ports: PlayerPorts) {
    this.room = room;
    this.#ports = ports;
  }

  get state(): PlayState {
    return this.#state;
  }

  /** Whether a connection (attempted or made) exists. */
  get connected(): boolean {
    return this.#current !== 0;
  }

  /** Whether `attempt` is still the current connection; reports about any other are ignored. */
  isCurrent(attempt: number): boolean {
    return attempt !== 0 && attempt === this.#current;
  }

  /** The page is up: wait for the feed, and connect without it if it stays silent. */
  start(): void {
    this.#set("waiting", this.#waitingText());
    this.#silenceTimer = setTimeout(() => this.#maybeConnect(), FEED_SILENT_MS + 100);
  }

  // --- what the feed says ---

  /** The room as the feed (or the initial list) describes it; undefined when the room is not open. */
  roomUpdate(s: RoomStats | undefined): void {
    this.#feedHeard = true;
    const live = s !== undefined && s.hasPublisher && s.publisherState === "connected";
    this.#roomLive = live;
    this.#viewers = s?.viewers;
    this.picker.setRates(s?.tracks.find((t) => t.kind === "video")?.layers ?? []);
    if (live) this.#maybeConnect();
    else if (!this.connected && this.#state !== "refused") this.#set("waiting", this.#waitingText());
    this.#render();
  }

  viewerCount(n: number): void {
    this.#viewers = n;
    this.#render();
  }

  roomClosed(): void {
    this.#feedHeard = true;
    this.#roomLive = false;
    this.#viewers = undefined;
    if (this.connected) {
      this.#teardown(false);
      this.#set("waiting", `The publisher left. ${this.#waitingText()}`);
    }
    this.#render();
  }

  feedStatus(status: "live" | "retrying" | "refused" | "paused", err?: ApiError): void {
    if (status === "paused") this.#startPolling();
    else this.#stopPolling();
    if (status === "refused") {
      this.#teardown(false);
      this.#refuse(err);
    } else if (status === "live" && this.#state === "refused") {
      this.#set("waiting", this.#waitingText());
    }
  }

  // --- what the connection does ---

  /** The WHEP POST succeeded. False when the attempt is stale: the caller ends that session itself. */
  negotiated(attempt: number): boolean {
    if (!this.isCurrent(attempt)) return false;
    this.#backoffMs = FIRST_BACKOFF_MS;
    this.#ports.tokenAccepted();
    return true;
  }

  /** The WHEP POST or applying its answer failed. */
  failed(attempt: number, err: unknown): void {
    if (!this.isCurrent(attempt)) return;
    this.#teardown(false);
    if (isAuthError(err)) {
      this.#refuse(err);
      return;
    }
    const text = describeError(err, this.#doing());
    if (err instanceof ApiError && err.status === 404) {
      // The publisher left between the feed's word and our offer: wait for the feed to say it is back.
      if (this.#feedHeard) this.#roomLive = false;
      this.#set("waiting", this.#waitingText());
    } else {
      this.#notice = { kind: "error", text };
      this.#set("error", text);
    }
    const delay = err instanceof ApiError && err.retryAfterSec ? err.retryAfterSec * 1000 : this.#backoffMs;
    this.#notBefore = Date.now() + delay;
    this.#backoffMs = Math.min(MAX_BACKOFF_MS, this.#backoffMs * 2);
    this.#retryIn(delay);
  }

  /** The peer connection's state changed. */
  peerState(attempt: number, s: RTCPeerConnectionState): void {
    if (!this.isCurrent(attempt)) return;
    if (s === "connected") {
      clearTimeout(this.#disconnectTimer);
      this.#disconnectTimer = undefined;
      if (this.#state === "connecting") this.#set("connecting", "Connected. Waiting for the first picture from the publisher…");
    } else if (s === "disconnected") {
      this.#disconnectTimer ??= setTimeout(() => this.dropped(attempt, "the connection was lost"), DISCONNECTED_GRACE_MS);
    } else if (s === "failed" || s === "closed") {
      this.dropped(attempt, "the connection failed");
    }
  }

  /** The connection ended under us: back to waiting, and in again as soon as the room is live. */
  dropped(attempt: number, why: string): void {
    if (!this.isCurrent(attempt)) return;
    // The server has already ended its side when it closed DTLS; a DELETE would only find nothing.
    this.#teardown(false);
    this.#set("waiting", `The stream stopped (${why}). ${this.#waitingText()}`);
    this.#notBefore = Date.now() + REJOIN_DELAY_MS;
    this.#maybeConnect();
  }

  /** The picture is moving. */
  playing(): void {
    if (this.connected) this.#set("live", "");
  }

  // --- the session's own events (WHEP events extension) ---

  /** What the current session's event stream said: the publication's state, the viewer count, the layers. */
  sessionEvent(attempt: number, e: SessionEvent): void {
    if (!this.isCurrent(attempt)) return;
    switch (e.type) {
      case "active":
      case "inactive":
        this.#paused = e.type === "inactive";
        break;
      case "viewercount":
        this.#viewers = e.viewercount;
        break;
      case "layers": {
        this.picker.setRates(e.layers);
        const names = e.layers.map((l) => l.name);
        const known = this.picker.names;
        // A new set of layers is offered again (the earlier choice re-applied); new bitrates only relabel.
        if (names.length !== known.length || names.some((n, i) => n !== known[i])) {
          void this.layersOffered(attempt, names).catch(() => undefined);
          return;
        }
        break;
      }
    }
    this.#render();
  }

  // --- layers ---

  /** The session's layer URL listed these layers; switches to the person's earlier choice when it is one. */
  async layersOffered(attempt: number, names: readonly string[]): Promise<void> {
    if (!this.isCurrent(attempt)) return;
    const again = this.picker.offer(names);
    this.#render();
    if (again === undefined) return;
    await this.#ports.postLayer(again);
    if (this.isCurrent(attempt)) this.picker.switched();
  }

  /** The person picked a layer ("" = automatic). */
  chooseLayer(value: string): void {
    this.picker.choose(value);
    const chosen = this.picker.chosen;
    if (chosen !== undefined) {
      if (!this.picker.visible) return;
      const attempt = this.#current;
      this.#ports.postLayer(chosen).then(
        () => {
          if (this.isCurrent(attempt)) this.picker.switched();
        },
        (err: unknown) => {
          this.#notice = { kind: "error", text: describeError(err, "change the quality") };
          this.#render();
        },
      );
    } else if (this.picker.pinned && this.connected) {
      // The layer extension has no "automatic" to go back to: a new session starts on the server's choice.
      this.#teardown(true);
      this.#set("waiting", "Switching to automatic quality…");
      this.#notBefore = 0;
      this.#maybeConnect();
    }
    this.#render();
  }

  /** The page is going away. */
  unload(): void {
    this.#teardown("unload");
  }

  /** Stops every timer (tests; a page simply goes away). */
  dispose(): void {
    this.#teardown(false);
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#silenceTimer);
    this.#stopPolling();
  }

  // --- inside ---

  #doing(): string {
    return `watch “${this.room}”`;
  }

  #waitingText(): string {
    return `Waiting for the publisher of “${this.room}”. The video starts by itself when the room goes live.`;
  }

  #refuse(err: unknown): void {
    const text = describeError(err, this.#doing());
    this.#set("refused", text);
    this.#ports.askToken(text);
  }

  #maybeConnect(): void {
    if (this.#state !== "waiting" && this.#state !== "error") return;
    if (this.connected) return;
    // Without any word from the feed (a proxy that holds events back), try anyway, with the backoff.
    const feedSilent = !this.#feedHeard && Date.now() - this.#startedAt > FEED_SILENT_MS;
    if (this.#roomLive !== true && !(this.#roomLive === undefined && feedSilent)) return;
    const wait = this.#notBefore - Date.now();
    if (wait > 0) {
      this.#retryIn(wait);
      return;
    }
    this.#connect();
  }

  #retryIn(ms: number): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => this.#maybeConnect(), ms);
  }

  #connect(): void {
    clearTimeout(this.#retryTimer);
    this.#notice = undefined;
    this.#current = ++this.#attempts;
    this.#set("connecting", `Connecting to “${this.room}”…`);
    this.#ports.open(this.#current);
  }

  #teardown(deleteSession: boolean | "unload"): void {
    clearTimeout(this.#disconnectTimer);
    this.#disconnectTimer = undefined;
    this.#current = 0;
    this.#paused = false;
    this.picker.reset();
    this.#ports.close(deleteSession);
  }

  #startPolling(): void {
    if (this.#pollTimer) return;
    this.#pollTimer = setInterval(() => {
      if (this.connected || this.#state === "refused") return;
      this.#ports.roomIsLive().then(
        (live) => {
          this.#roomLive = live;
          this.#feedHeard = true;
          this.#maybeConnect();
        },
        () => undefined,
      );
    }, HIDDEN_POLL_MS);
  }

  #stopPolling(): void {
    clearInterval(this.#pollTimer);
    this.#pollTimer = undefined;
  }

  #set(state: PlayState, text: string): void {
    this.#state = state;
    this.#text = text;
    this.#render();
  }

  #render(): void {
    this.#ports.render({
      state: this.#state,
      text: this.#state === "live" && this.#paused ? PAUSED_TEXT : this.#text,
      notice: this.#notice,
      viewers: this.#viewers,
      paused: this.#state === "live" && this.#paused,
      layers: { visible: this.picker.visible, options: this.picker.options, selected: this.picker.selected },
    });
  }
}
