// A room: one publisher, its viewers. Created by the first publish, closed when the publisher leaves
// (its viewers are closed with it, so they learn within the second).
import { BadLadderError, InvalidStateError, RoomFullError } from "./errors.ts";
import type { RoomDetails, RoomSummary } from "../api.ts";
import type { Logger } from "../log.ts";
import type { SessionRecording } from "../media/recorder/recordings.ts";
import { LadderError, parseLadder, type Ladder } from "../media/transcode/ladder.ts";
import type { Transcoder } from "../media/transcode/transcoder.ts";
import { notTranscodedReason } from "../media/transcode/transcodeService.ts";
import type { ParsedOffer } from "../rtc/sdp.ts";
import type { RoomContext } from "./context.ts";
import { PublisherSession } from "./publisher.ts";
import type { TrackHooks } from "./trackLayer.ts";
import { ViewerSession } from "./viewer.ts";

export interface RoomEvents {
  onClosed(room: Room): void;
  onSessionOpened(session: PublisherSession | ViewerSession): void;
  onSessionClosed(session: PublisherSession | ViewerSession): void;
}

export interface PublishOptions {
  /** The room's own ladder (JWT claim or WHIP ?ladder=), raw; undefined = TRANSCODE_LADDER, "off" = none. */
  ladder?: string | undefined;
}

export class Room {
  readonly name: string;
  readonly createdAt = new Date();
  readonly log: Logger;
  publisher: PublisherSession | undefined;
  readonly viewers = new Map<string, ViewerSession>();

  #closed = false;
  readonly #ctx: RoomContext;
  readonly #events: RoomEvents;
  readonly #hooks: TrackHooks;
  /** Rendition packets are not the publisher's: they count as forwarded to viewers, not as received. */
  readonly #renditionHooks: TrackHooks;
  #recording: SessionRecording | undefined;
  #transcoder: Transcoder | undefined;
  /** Why a ladder asked for gives no renditions (an H265 or simulcast publisher): the room API says so. */
  #notTranscoded: string | undefined;

  constructor(ctx: RoomContext, name: string, events: RoomEvents) {
    this.name = name;
    this.#ctx = ctx;
    this.#events = events;
    this.log = ctx.log.child({ room: name });
    ctx.metrics.liveViewers.labels(name).set(0);
    const { metrics } = ctx;
    // Label children are looked up once, not per packet.
    const bytes = metrics.rtpBytes.labels(name);
    const packets = metrics.rtpPackets.labels(name);
    const mux = ctx.media?.mux;
    const forwarded = metrics.packetsForwarded;
    const load = ctx.load;
    const lost = metrics.packetsLost;
    this.#hooks = {
      onPacket(size) {
        bytes.inc(size);
        packets.inc();
      },
      onLost(count) {
        lost.inc(count);
      },
      onForwarded(count) {
        forwarded.inc(count);
        load?.countForwarded(count);
      },
      onKeyframeRequest(sent) {
        metrics.pli.labels(sent ? "sent" : "throttled").inc();
      },
      flush() {
        mux?.flush();
      },
    };
    const noop = () => undefined;
    this.#renditionHooks = { onPacket: noop, onLost: noop, onKeyframeRequest: noop, onForwarded: (n) => forwarded.inc(n), flush: this.#hooks.flush };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The transcoder's state ("waiting", "running", ...), or null when the room has none. */
  get transcoderState(): string | null {
    return this.#transcoder?.state ?? null;
  }

  /** Builds the publisher session; the caller has already checked that the room is free. */
  createPublisher(offer: ParsedOffer, opts: PublishOptions = {}): PublisherSession {
    if (this.#closed) throw new InvalidStateError("room is closed");
    const ladder = this.#ladder(opts.ladder);
    const session = new PublisherSession(this.#ctx, this.name, offer, this.#hooks, {
      onClosed: (s, reason) => {
        this.#events.onSessionClosed(s);
        if (this.publisher === s) this.close(`publisher left: ${reason}`);
      },
    });
    this.publisher = session;
    this.#recording = this.#ctx.recordings?.startSession(this.name, session.tracks, session.log);
    this.#transcoder?.close();
    const video = session.tracks.find((t) => t.kind === "video")?.transcodeSource(this.#renditionHooks);
    this.#transcoder = this.#ctx.transcode?.attach({ room: this.name, video, ladder, log: session.log });
    this.#notTranscoded = this.#ctx.transcode && !this.#transcoder ? notTranscodedReason(video, ladder) : undefined;
    this.#events.onSessionOpened(session);
    return session;
  }

  /** A ladder asked for by the publish, checked before any session exists; else the server's default. */
  #ladder(raw: string | undefined): Ladder {
    if (raw === undefined) return this.#ctx.config.transcodeLadder;
    try {
      return parseLadder(raw);
    } catch (err) {
      if (err instanceof LadderError) throw new BadLadderError(err.message);
      throw err;
    }
  }

  /** Packets per second a new viewer would be sent now: each track's layer (the one asked for, else the default). */
  viewerPacketRate(layer?: string): number {
    let pps = 0;
    for (const t of this.publisher?.tracks ?? []) pps += ((layer === undefined ? undefined : t.layer(layer)) ?? t.defaultLayer()).packetRate;
    return pps;
  }

  createViewer(offer: ParsedOffer, layer?: string): ViewerSession {
    if (this.#closed || !this.publisher) throw new InvalidStateError("room has no publisher");
    const max = this.#ctx.config.maxViewersPerRoom;
    if (max > 0 && this.viewers.size >= max) throw new RoomFullError();
    const session = new ViewerSession(this.#ctx, this.name, offer, this.publisher.tracks, {
      onClosed: (s) => {
        this.viewers.delete(s.id);
        this.#ctx.metrics.liveViewers.labels(this.name).set(this.viewers.size);
        this.#events.onSessionClosed(s);
      },
    }, layer);
    this.viewers.set(session.id, session);
    this.#ctx.metrics.liveViewers.labels(this.name).set(this.viewers.size);
    this.#events.onSessionOpened(session);
    return session;
  }

  /** Once a second: per-track bitrate, and the idle-publisher reaper. */
  tick(elapsedMs: number, now: number): void {
    for (const t of this.publisher?.tracks ?? []) t.tick(elapsedMs);
    this.#transcoder?.tick(elapsedMs, now);
    for (const v of this.viewers.values()) {
      v.refreshStreams();
      v.adaptLayer();
    }
    this.#updateRoomMetrics();
    this.publisher?.reapIfIdle(elapsedMs, Math.min(15, this.#ctx.config.connectTimeoutSec) * 1000);
  }

  /** Per-room aggregates of per-session RTCP figures, so metric cardinality follows rooms, not sessions. */
  #updateRoomMetrics(): void {
    if (this.#closed) return;
    const { metrics } = this.#ctx;
    metrics.roomBitrate.labels(this.name).set((this.publisher?.tracks ?? []).reduce((s, t) => s + t.bitrate, 0));
    const rtts: number[] = [];
    const losses: number[] = [];
    const jitters: number[] = [];
    for (const v of this.viewers.values()) {
      for (const st of v.senderStats()) {
        if (st.rttMs !== null) rtts.push(st.rttMs / 1000);
        if (st.fractionLost !== null) losses.push(st.fractionLost);
        if (st.jitterMs !== null) jitters.push(st.jitterMs / 1000);
      }
    }
    const mean = (xs: number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);
    metrics.roomViewerRtt.labels(this.name).set(mean(rtts));
    metrics.roomViewerLoss.labels(this.name).set(mean(losses));
    metrics.roomViewerJitter.labels(this.name).set(mean(jitters));
  }

  summary(): RoomSummary {
    return {
      name: this.name,
      hasPublisher: this.publisher !== undefined && !this.publisher.closed,
      tracks: this.publisher?.tracks.length ?? 0,
      subscribers: this.viewers.size,
    };
  }

  details(): RoomDetails {
    const p = this.publisher;
    return {
      ...this.summary(),
      liveSince: this.createdAt.toISOString(),
      bitrate: (p?.tracks ?? []).reduce((sum, t) => sum + t.bitrate, 0),
      tracks: (p?.tracks ?? []).map((t) => ({
        kind: t.kind,
        index: t.index,
        codec: t.codec.mimeType,
        fmtp: t.codec.fmtp,
        ssrc: t.ssrc ?? null,
        packets: t.counters.packets,
        bytes: t.counters.bytes,
        packetsLost: t.counters.lost,
        bitrate: t.bitrate,
        viewers: t.viewerCount,
        layers: t.layers.map((l) => ({
          name: l.name,
          ssrc: l.ssrc ?? null,
          packets: l.counters.packets,
          bitrate: l.bitrate,
          viewers: t.viewersOn(l),
          rendition: l.rendition,
        })),
      })),
      transcode: this.#transcoder?.details() ?? (this.#notTranscoded === undefined ? null : { state: "off", reason: this.#notTranscoded, renditions: [] }),
      publisher: p
        ? {
            id: p.publicId,
            state: p.state,
            createdAt: p.createdAt.toISOString(),
            packetsReceived: p.tracks.reduce((s, t) => s + t.counters.packets, 0),
            bytesReceived: p.tracks.reduce((s, t) => s + t.counters.bytes, 0),
            packetsLost: p.tracks.reduce((s, t) => s + t.counters.lost, 0),
          }
        : null,
      viewers: [...this.viewers.values()].map((v) => {
        const senders = v.senderStats();
        return {
          id: v.publicId,
          state: v.state,
          createdAt: v.createdAt.toISOString(),
          codecs: v.codecs.map((c) => c.mimeType),
          layer: v.currentLayer ?? null,
          packetsSent: senders.reduce((s, x) => s + x.packetsSent, 0),
          bytesSent: senders.reduce((s, x) => s + x.bytesSent, 0),
          nacks: senders.reduce((s, x) => s + x.nacks, 0),
          plis: senders.reduce((s, x) => s + x.plis, 0),
          streams: senders,
        };
      }),
    };
  }

  /** Closes viewers, then the publisher, then tells the registry; idempotent. */
  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    // ffmpeg first: it must not outlive the room, whatever happens further down.
    this.#transcoder?.close();
    for (const v of [...this.viewers.values()]) v.close(reason, true);
    this.publisher?.close(reason);
    // Finishes the files in the background; shutdown waits for it through Recordings.close().
    this.#recording?.close();
    this.#ctx.metrics.forgetRoom(this.name);
    this.log.info({ reason }, "room closed");
    this.#events.onClosed(this);
  }
}
