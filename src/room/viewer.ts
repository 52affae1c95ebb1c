// A WHEP session: one werift peer whose senders are fed by the publisher's tracks.
import type { RTCRtpSender } from "werift";
import type { ViewerStreamStats } from "../api.ts";
import type { Logger } from "../log.ts";
import { chooseViewerCodec, describeCodec, offeredCodecNames, type CodecInfo } from "../rtc/codecs.ts";
import { createPeer } from "../rtc/peer.ts";
import { watchConnection, type ConnectionWatch } from "../rtc/connectionWatch.ts";
import { NegotiationError, SessionPeer } from "../rtc/sessionPeer.ts";
import { activeMedia, type MediaKind, type OfferedMedia, type ParsedOffer } from "../rtc/sdp.ts";
import type { RoomContext } from "./context.ts";
import { InvalidOfferError, NegotiationFailedError, UnknownLayerError } from "./errors.ts";
import type { PublishedTrack } from "./publishedTrack.ts";
import { chooseLayer } from "./layerChoice.ts";
import type { TrackLayer } from "./trackLayer.ts";
import { RtpSendPath } from "../rtc/rtpSendPath.ts";
import { rtcpReports, senderCounters } from "../rtc/weriftInternals.ts";
import { ViewerStream } from "./viewerStream.ts";
import { newPublicId, newSecretId, type SessionState } from "./session.ts";

export interface ViewerEvents {
  onClosed(session: ViewerSession, reason: string): void;
}

/** What the viewer's receiver reports (RTCP RR) say about one of our streams. */
interface ReceiverReport {
  fractionLost: number;
  packetsLost: number;
  /** Interarrival jitter in seconds. */
  jitter: number;
}

interface Binding {
  track: PublishedTrack;
  /**
   * The layer the viewer starts on once connected. From then on the track holds which layer the viewer is on
   * (and its pending switch): this is only read before.
   */
  start: TrackLayer;
  mid: string | undefined;
  /** The m-line's place in the viewer's SDP (the WHEP events' layers are keyed by it). */
  mline: number;
  codec: CodecInfo;
  sender: RTCRtpSender | undefined;
  /** The transport's send path for this sender; made with the answer. */
  path: RtpSendPath | undefined;
  /** What the layer writes this viewer's packets into; made with the answer. */
  stream: ViewerStream | undefined;
  report: ReceiverReport | undefined;
}

export class ViewerSession {
  readonly kind = "viewer" as const;
  readonly id: string;
  readonly publicId = newPublicId();
  readonly createdAt = new Date();
  state: SessionState = "connecting";
  /** The IP the session's WHIP/WHEP request came from, as the HTTP layer saw it (the admin's session list). */
  clientAddress: string | undefined;
  readonly log: Logger;
  /** A viewer that chose a layer keeps it; otherwise the layer follows its receive estimate. */
  #pinnedLayer = false;
  #upgradeVotes = 0;

  readonly peer: SessionPeer;
  #bindings: Binding[] = [];
  #watch: ConnectionWatch | undefined;
  #settled: ((connected: boolean) => void)[] = [];
  #closed = false;
  readonly #ctx: RoomContext;
  readonly #events: ViewerEvents;

  /** Pairs each m-line the viewer wants with a publisher track of its kind, in order, and picks its codec. */
  constructor(
    ctx: RoomContext,
    room: string,
    offer: ParsedOffer,
    tracks: readonly PublishedTrack[],
    events: ViewerEvents,
    layerName?: string,
  ) {
    this.#ctx = ctx;
    this.#events = events;
    this.id = newSecretId(ctx.nodeId?.());
    this.log = ctx.log.child({ room, session: this.publicId, kind: "viewer" });
    const wanted = activeMedia(offer, "recv");
    if (wanted.length === 0) throw new InvalidOfferError("offer has no audio or video to receive (all sections are sendonly or inactive)");
    const used = new Set<PublishedTrack>();
    const perKind: Record<MediaKind, CodecInfo | undefined> = { audio: undefined, video: undefined };
    for (const m of wanted) {
      const kind = m.kind as MediaKind;
      const track = tracks.find((t) => t.kind === kind && !used.has(t));
      if (!track) continue;
      const codec = perKind[kind] ?? this.#pickCodec(track, m);
      used.add(track);
      perKind[kind] = codec;
      const start = this.#initialLayer(track, layerName);
      this.#bindings.push({ track, start, mid: m.mid, mline: offer.media.indexOf(m), codec, sender: undefined, path: undefined, stream: undefined, report: undefined });
    }
    if (this.#bindings.length === 0) throw new InvalidOfferError("offer asks for no kind of media this room publishes");
    this.peer = new SessionPeer(createPeer(ctx.config, { audio: perKind.audio, video: perKind.video, role: "viewer" }, ctx.media?.mux), ctx.config, ctx.media?.mux);
  }

  #initialLayer(track: PublishedTrack, layerName: string | undefined): TrackLayer {
    if (layerName === undefined || track.kind !== "video") return track.defaultLayer();
    this.#pinnedLayer = true;
    const layer = track.layer(layerName);
    if (!layer) throw new UnknownLayerError(layerName, track.layers.map((l) => l.name));
    return layer;
  }

  /** Layers a viewer may pick, per video track. */
  get layers(): string[] {
    return this.#bindings.find((b) => b.track.kind === "video")?.track.layers.map((l) => l.name) ?? [];
  }

  /** The video track this viewer receives and its m-line's index in the viewer's SDP, if it receives video. */
  get video(): { track: PublishedTrack; mline: number } | undefined {
    const b = this.#bindings.find((x) => x.track.kind === "video");
    return b ? { track: b.track, mline: b.mline } : undefined;
  }

  get currentLayer(): string | undefined {
    const b = this.#bindings.find((x) => x.track.kind === "video");
    return b ? this.#layerOf(b).name : undefined;
  }

  /** The layer a binding's stream is on: the track's word once the viewer is forwarded to, the start before. */
  #layerOf(b: Binding): TrackLayer {
    return (b.stream && b.track.layerOf(b.stream)) ?? b.start;
  }

  /** Live layer switch (WHEP layer extension): the viewer moves at the target layer's next keyframe. */
  switchLayer(name: string): void {
    this.#pinnedLayer = true;
    this.#moveTo(name);
  }

  /**
   * Once a second: a viewer on automatic layers whose receive estimate (REMB) cannot carry its layer moves down
   * at once; it moves back up after the estimate has had room for the higher layer for 3 s.
   */
  adaptLayer(): void {
    if (this.#pinnedLayer || this.state !== "connected") return;
    const b = this.#bindings.find((x) => x.track.kind === "video" && x.track.layers.length > 1);
    const estimate = Number((b?.sender && senderCounters(b.sender).receiverEstimatedMaxBitrate) ?? 0);
    if (!b || estimate <= 0) return;
    // Where the viewer is headed, so a decision taken again within one GOP is not a second switch.
    const heading = (b.stream && b.track.targetOf(b.stream)) ?? b.start;
    const decision = chooseLayer(b.track.layers, heading.name, estimate, this.#upgradeVotes);
    this.#upgradeVotes = decision.upgradeVotes;
    if (!decision.move) return;
    this.log.info({ layer: decision.to, estimate }, `receive estimate: layer ${decision.direction}`);
    this.#moveTo(decision.to);
  }

  #moveTo(name: string): void {
    const video = this.#bindings.filter((b) => b.track.kind === "video");
    const targets = video.map((b) => b.track.layer(name));
    if (video.length === 0 || targets.some((t) => t === undefined)) {
      throw new UnknownLayerError(name, this.layers);
    }
    video.forEach((b, i) => {
      const target = targets[i] as TrackLayer;
      const stream = b.stream;
      if (!stream || b.track.layerOf(stream) === undefined) {
        // Not forwarded to yet: it simply starts there.
        b.start = target;
        return;
      }
      b.track.switchViewer(stream, target, () => this.log.info({ layer: name }, "viewer switched layer"));
    });
  }

  #pickCodec(track: PublishedTrack, m: OfferedMedia): CodecInfo {
    const codec = chooseViewerCodec(track.codec, m);
    if (!codec) {
      throw new InvalidOfferError(
        `viewer offer cannot receive the publisher's ${track.kind} codec ${describeCodec(track.codec)}; it offers ${offeredCodecNames(m)}`,
      );
    }
    return codec;
  }

  get codecs(): CodecInfo[] {
    return this.#bindings.map((b) => b.codec);
  }

  async answer(offerSdp: string): Promise<string> {
    const pc = this.peer.pc;
    let answer: string;
    try {
      answer = await this.peer.negotiate(offerSdp, () => {
        const transceivers = pc.getTransceivers();
        for (const b of this.#bindings) {
          const t = transceivers.find((x) => x.mid === b.mid) ?? transceivers.find((x) => x.kind === b.track.kind);
          if (!t) continue;
          t.setDirection("sendonly");
          b.sender = t.sender;
        }
      });
    } catch (err) {
      if (!(err instanceof NegotiationError)) throw err;
      this.log.warn({ err: err.message }, "negotiation failed");
      throw new NegotiationFailedError(err.message);
    }
    for (const b of this.#bindings) {
      const sender = b.sender;
      if (!sender) continue;
      const path = new RtpSendPath(sender, pc, this.#ctx.media?.senderReports);
      const stream = new ViewerStream(path);
      b.path = path;
      b.stream = stream;
      sender.onPictureLossIndication.subscribe(() => {
        this.#layerOf(b).requestKeyframe();
      });
      sender.onRtcp.subscribe((packet) => {
        // RR and SR both carry report blocks; ours is the one about this sender's SSRC.
        const mine = rtcpReports(packet).find((r) => r.ssrc === sender.ssrc);
        if (mine) {
          const clock = b.codec.clockRate || 90000;
          b.report = { fractionLost: mine.fractionLost / 256, packetsLost: Number(mine.packetsLost), jitter: Number(mine.jitter) / clock };
        }
      });
      sender.onGenericNack.subscribe((nack) => {
        this.#ctx.metrics.nack.inc();
        // werift answered from its own history only for packets it sent itself (before the fast path took over).
        if (!stream.fast) return;
        const layer = this.#layerOf(b);
        for (const seq of nack.lost) stream.resend(seq, (sourceSeq) => layer.packetAt(sourceSeq));
      });
    }
    this.#watch = watchConnection(pc, {
      connectTimeoutMs: this.#ctx.config.connectTimeoutSec * 1000,
      disconnectGraceMs: Math.min(10_000, this.#ctx.config.connectTimeoutSec * 1000),
      onState: (state) => {
        this.state = state;
        if (state === "connected") {
          this.#settle(true);
          this.#startForwarding();
        }
        // A viewer whose transport is in trouble is skipped until it recovers or is reaped.
        else for (const b of this.#bindings) b.path?.pause(true);
      },
      onDead: (reason) => this.close(reason),
    });
    return answer;
  }

  /** Called once: when the viewer first connects (true) or closes without having connected (false). */
  onSettled(fn: (connected: boolean) => void): void {
    if (this.#closed) fn(false);
    else this.#settled.push(fn);
  }

  #settle(connected: boolean): void {
    const fns = this.#settled;
    this.#settled = [];
    for (const fn of fns) fn(connected);
  }

  /** Packets flow only once DTLS is up; a keyframe is requested at once so the first picture comes quickly. */
  #startForwarding(): void {
    if (this.#closed) return;
    this.log.info("viewer connected");
    for (const b of this.#bindings) {
      if (!b.stream || !b.path) continue;
      b.path.refresh();
      b.path.pause(false);
      b.track.addViewer(b.stream, b.start);
      this.#layerOf(b).requestKeyframe();
    }
  }

  /** Once a second: the media path follows an ICE restart's new pair (and takes over once DTLS keys exist). */
  refreshStreams(): void {
    if (this.#closed || this.state !== "connected") return;
    for (const b of this.#bindings) b.path?.refresh();
  }

  /** Stats per binding for the room API. */
  senderStats(): ViewerStreamStats[] {
    return this.#bindings.map((b) => {
      // werift keeps these counters private but up to date; reading them avoids a second count on the hot path.
      const s = b.sender && senderCounters(b.sender);
      return {
        kind: b.track.kind,
        codec: b.codec.mimeType,
        // werift keeps some counters as bigint; JSON and Prometheus want numbers.
        packetsSent: Number(s?.packetCount ?? 0),
        bytesSent: Number(s?.octetCount ?? 0),
        nacks: Number(s?.nackCount ?? 0),
        plis: Number(s?.pliCount ?? 0),
        layer: this.#layerOf(b).name,
        rttMs: s?.rtt === undefined ? null : Math.round(Number(s.rtt) * 10_000) / 10,
        fractionLost: b.report ? Math.round(b.report.fractionLost * 1000) / 1000 : null,
        packetsLost: b.report?.packetsLost ?? null,
        jitterMs: b.report ? Math.round(b.report.jitter * 10_000) / 10 : null,
        estimatedBitrate: s?.receiverEstimatedMaxBitrate === undefined ? null : Number(s.receiverEstimatedMaxBitrate),
      };
    });
  }

  /** `streamEnded`: the publisher left or the room closed, so the player is told with a fatal alert (see CloseKind). */
  close(reason: string, streamEnded = false): void {
    if (this.#closed) return;
    this.#closed = true;
    this.state = "closed";
    this.#settle(false);
    this.#watch?.stop();
    for (const b of this.#bindings) {
      if (b.stream) b.track.removeViewer(b.stream);
      b.path?.close();
    }
    void this.peer.close(streamEnded ? "ended" : "closed");
    this.log.info({ reason }, "viewer closed");
    this.#events.onClosed(this, reason);
  }

  get closed(): boolean {
    return this.#closed;
  }
}
