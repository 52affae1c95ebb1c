// A WHIP session: one werift peer that receives the publisher's tracks and owns them.
import { randomBytes } from "node:crypto";
import type { MediaStreamTrack, RTCRtpReceiver } from "werift";
import { TWCC_URI, TwccRecorder } from "../rtc/twcc.ts";
import { rawRtcp } from "../rtc/weriftInternals.ts";
import type { Logger } from "../log.ts";
import { choosePublisherCodec, type CodecInfo } from "../rtc/codecs.ts";
import { createPeer } from "../rtc/peer.ts";
import { watchConnection, type ConnectionWatch } from "../rtc/connectionWatch.ts";
import { NegotiationError, SessionPeer } from "../rtc/sessionPeer.ts";
import { activeMedia, type MediaKind, type ParsedOffer } from "../rtc/sdp.ts";
import { PublishedTrack } from "./publishedTrack.ts";
import type { TrackHooks } from "./trackLayer.ts";
import { newPublicId, newSecretId, type SessionState } from "./session.ts";
import type { RoomContext } from "./context.ts";
import { InvalidOfferError, NegotiationFailedError } from "./errors.ts";
import { IdleClock } from "./idleClock.ts";

/** Feedback every 50 ms, as libwebrtc receivers send it. */
const TWCC_INTERVAL_MS = 50;

/** Adds `a=rtcp-fb:PT transport-cc` after the codec's rtpmap, which werift left out on purpose. */
function withTransportCc(sdp: string, pt: number): string {
  if (sdp.includes(`a=rtcp-fb:${pt} transport-cc`)) return sdp;
  return sdp.replace(new RegExp(`(a=rtpmap:${pt} [^\r\n]*\r\n)`), `$1a=rtcp-fb:${pt} transport-cc\r\n`);
}

export interface PublisherEvents {
  onClosed(session: PublisherSession, reason: string): void;
}

export class PublisherSession {
  readonly kind = "publisher" as const;
  readonly id: string;
  readonly publicId = newPublicId();
  readonly createdAt = new Date();
  readonly tracks: PublishedTrack[];
  state: SessionState = "connecting";
  /** The IP the session's WHIP/WHEP request came from, as the HTTP layer saw it (the admin's session list). */
  clientAddress: string | undefined;
  /** When the transport last became connected; 0 before. */
  connectedAt = 0;
  readonly log: Logger;

  readonly peer: SessionPeer;
  #watch: ConnectionWatch | undefined;
  readonly #idle = new IdleClock();
  #closed = false;
  readonly #ctx: RoomContext;
  readonly #events: PublisherEvents;

  /** Validates what the offer publishes and builds the tracks; the peer is negotiated by answer(). */
  constructor(ctx: RoomContext, room: string, offer: ParsedOffer, hooks: TrackHooks, events: PublisherEvents) {
    this.#ctx = ctx;
    this.#events = events;
    this.id = newSecretId(ctx.nodeId?.());
    this.log = ctx.log.child({ room, session: this.publicId, kind: "publisher" });
    const media = activeMedia(offer, "send");
    if (media.length === 0) throw new InvalidOfferError("offer has no audio or video to publish (all sections are recvonly or inactive)");
    const perKind: Record<MediaKind, CodecInfo | undefined> = { audio: undefined, video: undefined };
    const counts: Record<MediaKind, number> = { audio: 0, video: 0 };
    this.tracks = [];
    for (const m of media) {
      const kind = m.kind as MediaKind;
      const codec = perKind[kind] ?? choosePublisherCodec(m);
      if (!codec) {
        throw new InvalidOfferError(`${kind} section offers no codec roomcast forwards (${m.codecs.map((c) => c.name).join(", ")})`);
      }
      perKind[kind] = codec;
      this.tracks.push(new PublishedTrack(kind, counts[kind]++, m.mid, codec, hooks, kind === "video" ? m.rids : []));
    }
    // werift's own TWCC feedback misleads Chromium's estimator: it is kept out of werift's codec and the server
    // sends its own (see rtc/twcc.ts), while the answer still offers transport-cc to the publisher.
    const video = perKind.video;
    this.#twccPayloadType = video?.rtcpFb.includes("transport-cc") ? video.payloadType : undefined;
    const weriftVideo = video && { ...video, rtcpFb: video.rtcpFb.filter((fb) => fb !== "transport-cc") };
    const mux = ctx.media?.mux;
    this.peer = new SessionPeer(createPeer(ctx.config, { audio: perKind.audio, video: weriftVideo, role: "publisher" }, mux), ctx.config, mux);
  }

  readonly #twccPayloadType: number | undefined;
  readonly #twcc = new TwccRecorder(randomBytes(4).readUInt32BE(0));
  #twccTimer: ReturnType<typeof setInterval> | undefined;
  #twccReceiver: RTCRtpReceiver | undefined;

  /** Binds a werift track to its published track, and feeds its transport-wide sequence numbers to TWCC. */
  #bind(published: PublishedTrack, track: MediaStreamTrack, receiver: RTCRtpReceiver): void {
    published.bind(track, receiver);
    if (this.#twccPayloadType === undefined || published.kind !== "video") return;
    this.#twccReceiver ??= receiver;
    track.onReceiveRtp.subscribe((rtp, extensions) => {
      const seq = (extensions as Record<string, unknown> | undefined)?.[TWCC_URI];
      if (typeof seq === "number") this.#twcc.onPacket(seq, Number(process.hrtime.bigint() / 1000n), rtp.header.ssrc);
    });
    this.#twccTimer ??= setInterval(() => {
      const fb = this.#twcc.buildFeedback();
      const dtls = this.#twccReceiver?.dtlsTransport;
      if (fb && dtls) dtls.sendRtcp([rawRtcp(fb)]).catch(() => undefined);
    }, TWCC_INTERVAL_MS);
  }

  get codecs(): CodecInfo[] {
    return this.tracks.map((t) => t.codec);
  }

  /** Negotiates with werift and returns the SDP answer with every server candidate. */
  async answer(offerSdp: string): Promise<string> {
    const pc = this.peer.pc;
    pc.ontrack = (ev) => {
      const mid = ev.transceiver.mid;
      const track = this.tracks.find((t) => t.mid !== undefined && t.mid === mid) ?? this.tracks.find((t) => t.kind === ev.track.kind);
      if (track) this.#bind(track, ev.track, ev.receiver);
    };
    let answer: string;
    try {
      answer = await this.peer.negotiate(offerSdp, () => {
        // werift announces simulcast (rid) tracks on the transceiver, not through pc.ontrack, and already during
        // setRemoteDescription: bind whatever the receivers hold now, and what they add later.
        for (const t of pc.getTransceivers()) {
          const published = this.tracks.find((x) => x.mid !== undefined && x.mid === t.mid);
          if (!published) continue;
          for (const track of t.receiver.tracks) if (track.rid !== undefined) this.#bind(published, track, t.receiver);
          t.onTrack.subscribe((track) => {
            if (track.rid !== undefined) this.#bind(published, track, t.receiver);
          });
        }
      });
    } catch (err) {
      if (!(err instanceof NegotiationError)) throw err;
      this.log.warn({ err: err.message }, "negotiation failed");
      throw new NegotiationFailedError(err.message);
    }
    if (this.#twccPayloadType !== undefined) answer = withTransportCc(answer, this.#twccPayloadType);
    this.#watch = watchConnection(pc, {
      connectTimeoutMs: this.#ctx.config.connectTimeoutSec * 1000,
      disconnectGraceMs: Math.min(10_000, this.#ctx.config.connectTimeoutSec * 1000),
      onState: (state) => {
        this.state = state;
        if (state === "connected") {
          this.connectedAt = Date.now();
          this.log.info("publisher connected");
          for (const t of this.tracks) t.requestKeyframe();
        }
      },
      onDead: (reason) => this.close(reason),
    });
    return answer;
  }

  /**
   * A publisher whose client vanished keeps ICE "connected" until consent expires (30 s); media stopping is a
   * faster sign. Reaps after `idleMs` with no RTP on any track, counted only while the event loop was responsive
   * (IdleClock): `elapsedMs` is the time since the previous tick.
   */
  reapIfIdle(elapsedMs: number, idleMs: number): void {
    if (this.#closed || this.state !== "connected") return;
    const last = Math.max(this.connectedAt, ...this.tracks.map((t) => t.lastPacketAt));
    if (this.#idle.tick(elapsedMs, last) > idleMs) this.close(`no media for ${Math.round(idleMs / 1000)} s`);
  }

  /** Closes the peer and the tracks; idempotent. The room closes the viewers. */
  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.state = "closed";
    this.#watch?.stop();
    clearInterval(this.#twccTimer);
    for (const t of this.tracks) t.close();
    void this.peer.close();
    this.log.info({ reason }, "publisher closed");
    this.#events.onClosed(this, reason);
  }

  get closed(): boolean {
    return this.#closed;
  }
}
