// A WHEP session: one werift peer whose senders are fed by the publisher's tracks.
import type { RTCRtpSender } from "werift";
import { badRequest, invalidSdp } from "../errors.ts";
import type { Logger } from "../log.ts";
import { chooseViewerCodec, describeCodec, offeredCodecNames, type CodecInfo } from "../rtc/codecs.ts";
import { createPeer } from "../rtc/peer.ts";
import { NegotiationError, SessionPeer } from "../rtc/sessionPeer.ts";
import { activeMedia, type MediaKind, type OfferedMedia, type ParsedOffer } from "../rtc/sdp.ts";
import type { RoomContext } from "./context.ts";
import type { PublishedTrack } from "./publishedTrack.ts";
import { chooseLayer } from "./layerChoice.ts";
import type { TrackLayer } from "./trackLayer.ts";
import { ViewerStream } from "./viewerStream.ts";
import {
  newPublicId,
  newSecretId,
  watchConnection,
  type ConnectionWatch,
  type SessionState,
} from "./session.ts";

export interface ViewerEvents {
  onClosed(session: ViewerSession, reason: string): void;
}

interface SenderCounters {
  packetCount: number;
  octetCount: number;
  nackCount: number;
  pliCount: number;
  rtt: number | undefined;
  receiverEstimatedMaxBitrate: number | undefined;
}

/** What the viewer's receiver reports (RTCP RR) say about one of our streams. */
export interface ReceiverReport {
  fractionLost: number;
  packetsLost: number;
  /** Interarrival jitter in seconds. */
  jitter: number;
}

interface Binding {
  track: PublishedTrack;
  /** The layer this viewer is on; changes when a switch completes at a keyframe. */
  layer: TrackLayer;
  mid: string | undefined;
  codec: CodecInfo;
  sender: RTCRtpSender | undefined;
  /** What the layer writes this viewer's packets into; made with the answer. */
  stream: ViewerStream | undefined;
  report: ReceiverReport | undefined;
}

export class ViewerSession {
  readonly kind = "viewer" as const;
  readonly id = newSecretId();
  readonly publicId = newPublicId();
  readonly createdAt = new Date();
  state: SessionState = "connecting";
  readonly log: Logger;
  plis = 0;
  nacks = 0;
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
    this.log = ctx.log.child({ room, session: this.publicId, kind: "viewer" });
    const wanted = activeMedia(offer, "recv");
    if (wanted.length === 0) throw badRequest("offer has no audio or video to receive (all sections are sendonly or inactive)");
    const used = new Set<PublishedTrack>();
    const perKind: Record<MediaKind, CodecInfo | undefined> = { audio: undefined, video: undefined };
    for (const m of wanted) {
      const kind = m.kind as MediaKind;
      const track = tracks.find((t) => t.kind === kind && !used.has(t));
      if (!track) continue;
      const codec = perKind[kind] ?? this.#pickCodec(track, m);
      used.add(track);
      perKind[kind] = codec;
      const layer = this.#initialLayer(track, layerName);
      this.#bindings.push({ track, layer, mid: m.mid, codec, sender: undefined, stream: undefined, report: undefined });
    }
    if (this.#bindings.length === 0) throw badRequest("offer asks for no kind of media this room publishes");
    this.peer = new SessionPeer(createPeer(ctx.config, { audio: perKind.audio, video: perKind.video, role: "viewer" }), ctx.config);
  }

  #initialLayer(track: PublishedTrack, layerName: string | undefined): TrackLayer {
    if (layerName === undefined || track.kind !== "video") return track.defaultLayer();
    this.#pinnedLayer = true;
    const layer = track.layer(layerName);
    if (!layer) throw badRequest(`no layer "${layerName}" in this room (layers: ${track.layers.map((l) => l.name).join(", ")})`);
    return layer;
  }

  /** Layers a viewer may pick, per video track. */
  get layers(): string[] {
    return this.#bindings.find((b) => b.track.kind === "video")?.track.layers.map((l) => l.name) ?? [];
  }

  get currentLayer(): string | undefined {
    return this.#bindings.find((b) => b.track.kind === "video")?.layer.name;
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
    const sender = b?.sender as unknown as SenderCounters | undefined;
    const estimate = Number(sender?.receiverEstimatedMaxBitrate ?? 0);
    if (!b || estimate <= 0) return;
    const decision = chooseLayer(b.track.layers, b.layer.name, estimate, this.#upgradeVotes);
    this.#upgradeVotes = decision.upgradeVotes;
    if (!decision.move) return;
    this.log.info({ layer: decision.to, estimate }, `receive estimate: layer ${decision.direction}`);
    this.#moveTo(decision.to);
  }

  #moveTo(name: string): void {
    const video = this.#bindings.filter((b) => b.track.kind === "video");
    const targets = video.map((b) => b.track.layer(name));
    if (video.length === 0 || targets.some((t) => t === undefined)) {
      throw badRequest(`no layer "${name}" in this room (layers: ${this.layers.join(", ")})`);
    }
    video.forEach((b, i) => {
      const target = targets[i] as TrackLayer;
      if (target === b.layer || !b.stream) return;
      if (this.state !== "connected") {
        b.layer = target;
        return;
      }
      target.switchIn(b.stream, b.layer, () => {
        b.layer = target;
        this.log.info({ layer: name }, "viewer switched layer");
      });
    });
  }

  #pickCodec(track: PublishedTrack, m: OfferedMedia): CodecInfo {
    const codec = chooseViewerCodec(track.codec, m);
    if (!codec) {
      throw badRequest(
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
      throw invalidSdp();
    }
    for (const b of this.#bindings) {
      const sender = b.sender;
      if (!sender) continue;
      const stream = new ViewerStream(sender, pc);
      b.stream = stream;
      sender.onPictureLossIndication.subscribe(() => {
        this.plis++;
        b.layer.requestKeyframe();
      });
      sender.onRtcp.subscribe((packet) => {
        // RR and SR both carry report blocks; ours is the one about this sender's SSRC.
        const reports = (packet as { reports?: { ssrc: number; fractionLost: number; packetsLost: number; jitter: number }[] }).reports;
        const mine = reports?.find((r) => r.ssrc === sender.ssrc);
        if (mine) {
          const clock = b.codec.clockRate || 90000;
          b.report = { fractionLost: mine.fractionLost / 256, packetsLost: Number(mine.packetsLost), jitter: Number(mine.jitter) / clock };
        }
      });
      sender.onGenericNack.subscribe((nack) => {
        this.nacks++;
        this.#ctx.metrics.nack.inc();
        // werift answered from its own history only for packets it sent itself (before the fast path took over).
        if (!stream.fast) return;
        for (const seq of nack.lost) stream.resend(seq, (sourceSeq) => b.layer.packetAt(sourceSeq));
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
        else for (const b of this.#bindings) b.stream?.pause(true);
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
      if (!b.stream) continue;
      b.stream.refresh();
      b.stream.pause(false);
      b.layer.addSink(b.stream);
      b.layer.requestKeyframe();
    }
  }

  /** Once a second: the media path follows an ICE restart's new pair (and takes over once DTLS keys exist). */
  refreshStreams(): void {
    if (this.#closed || this.state !== "connected") return;
    for (const b of this.#bindings) b.stream?.refresh();
  }

  /** Stats per binding for the room API. */
  senderStats(): {
    kind: MediaKind;
    codec: string;
    layer: string;
    packetsSent: number;
    bytesSent: number;
    nacks: number;
    plis: number;
    rttMs: number | null;
    fractionLost: number | null;
    packetsLost: number | null;
    jitterMs: number | null;
    estimatedBitrate: number | null;
  }[] {
    return this.#bindings.map((b) => {
      // werift keeps these counters private but up to date; reading them avoids a second count on the hot path.
      const s = b.sender as unknown as SenderCounters | undefined;
      return {
        kind: b.track.kind,
        codec: b.codec.mimeType,
        // werift keeps some counters as bigint; JSON and Prometheus want numbers.
        packetsSent: Number(s?.packetCount ?? 0),
        bytesSent: Number(s?.octetCount ?? 0),
        nacks: Number(s?.nackCount ?? 0),
        plis: Number(s?.pliCount ?? 0),
        layer: b.layer.name,
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
      const stream = b.stream;
      if (stream) {
        for (const l of b.track.layers) l.removeSink(stream);
        stream.close();
      }
    }
    void this.peer.close(streamEnded ? "ended" : "closed");
    this.log.info({ reason }, "viewer closed");
    this.#events.onClosed(this, reason);
  }

  get closed(): boolean {
    return this.#closed;
  }
}
