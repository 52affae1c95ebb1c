// One RTP stream of a published track: the only stream, or one simulcast layer (rid), or a transcoded rendition.
// It counts, caches the current GOP and fans each packet out to the sinks its track gives it. Which viewer is on
// which layer, and which switch is pending, is the track's to decide (publishedTrack.ts); a layer only tells its
// track when the keyframe a switch waits for arrives.
// This is the hot path: one packet in, N out, no awaits, nothing allocated of our own per packet.
import type { MediaStreamTrack, RTCRtpReceiver, RtpPacket } from "werift";
import type { KeyframeCodec } from "../media/codec/keyframe.ts";
import { isKeyframeStart } from "../media/codec/keyframe.ts";
import { GopCache } from "./gopCache.ts";
import { ntpNow } from "../rtc/rtpSendPath.ts";

/** At most one keyframe request per this many ms reaches a publisher, however many viewers ask. */
const PLI_THROTTLE_MS = 500;

const noop = () => undefined;

/**
 * A joining viewer gets the cached GOP this many packets at a time, REPLAY_INTERVAL_MS apart: a 2 s GOP of a
 * 2.5 Mbps stream (over 500 packets) sent at once overflows a viewer's receive buffer (Linux's 212 KB default
 * holds about 90 full-size datagrams), and the viewer loses the keyframe it was sent for.
 */
export const REPLAY_BURST = 48;
const REPLAY_INTERVAL_MS = 2;

/** Packets kept for NACKs, by sequence number: about 2 s of a 2.5 Mbps stream (a power of two). */
const HISTORY_SIZE = 512;

export interface TrackCounters {
  packets: number;
  bytes: number;
  lost: number;
  /** RTP timestamps that moved forward: frames, for video (stats captures turn it into a frame rate). */
  frames: number;
}

export interface TrackHooks {
  onPacket(bytes: number): void;
  onLost(count: number): void;
  onForwarded(count: number): void;
  onKeyframeRequest(sent: boolean): void;
  /** Sends what the sinks queued in one fan-out: one sendMany for all viewers. */
  flush(): void;
}

export type RtpTap = (rtp: RtpPacket) => void;

/** What a layer fans out to: a viewer's outgoing stream (viewerStream.ts). */
export interface LayerSink {
  /** One packet, stamped with the NTP time of its fan-out (for the stream's sender reports). */
  write(rtp: RtpPacket, ntp: bigint): void;
  /** The next packet written (a keyframe of another layer) continues this stream, `step` RTP ticks later. */
  continueAt(step: number, header: RtpPacket["header"]): void;
}

/** The publisher's last RTCP sender report: its RTP clock against its wall clock (NTP). */
export interface SenderReport {
  ntpTime: bigint;
  rtpTimestamp: number;
  receivedAt: number;
}

/** Called at the first keyframe after it was set, before that packet is fanned out: switches happen here. */
export type KeyframeListener = (layer: TrackLayer, header: RtpPacket["header"]) => void;

export interface LayerOptions {
  /** The name viewers pick when it is not a rid: a transcoded rendition's, like "360p". */
  name?: string;
  /** Made by roomcast's transcoder, not sent by the publisher: left out of what the publisher is said to send. */
  rendition?: boolean;
  /**
   * Replaces the PLI to the publisher, for a layer with no werift receiver behind it. Returns whether a keyframe
   * was asked for; it does its own throttling.
   */
  requestKeyframe?: () => boolean;
}

export class TrackLayer {
  /** The simulcast rid, or undefined for a track without layers. */
  readonly rid: string | undefined;
  readonly rendition: boolean;
  readonly counters: TrackCounters = { packets: 0, bytes: 0, lost: 0, frames: 0 };
  bitrate = 0;
  /** Packets per second over the last tick. */
  packetRate = 0;
  ssrc: number | undefined;
  lastPacketAt = 0;
  senderReport: SenderReport | undefined;

  #sinks: LayerSink[] = [];
  readonly #history: (RtpPacket | undefined)[] = new Array<RtpPacket | undefined>(HISTORY_SIZE);
  #keyframeListener: KeyframeListener | undefined;
  /** Viewers being sent the cached GOP; they join #sinks once they have caught up with it. */
  readonly #joining = new Set<LayerSink>();
  #taps: RtpTap[] = [];
  #receiver: RTCRtpReceiver | undefined;
  #unsubscribe: (() => void) | undefined;
  #lastSeq = -1;
  #lastTimestamp = -1;
  #lastPliAt = -Infinity;
  #bytesAtTick = 0;
  #packetsAtTick = 0;
  #closed = false;
  readonly #gop: GopCache | undefined;
  readonly #keyframes: KeyframeCodec | undefined;
  readonly #hooks: TrackHooks;
  readonly #name: string | undefined;
  readonly #keyframeRequester: (() => boolean) | undefined;

  constructor(rid: string | undefined, keyframes: KeyframeCodec | undefined, hooks: TrackHooks, opts: LayerOptions = {}) {
    this.rid = rid;
    this.rendition = opts.rendition === true;
    this.#name = opts.name;
    this.#keyframeRequester = opts.requestKeyframe;
    this.#keyframes = keyframes;
    this.#gop = keyframes === undefined ? undefined : new GopCache(keyframes);
    this.#hooks = hooks;
  }

  get name(): string {
    return this.#name ?? this.rid ?? "source";
  }

  /** Streams this layer sends to now, those still being replayed the GOP included. */
  get sinkCount(): number {
    return this.#sinks.length + this.#joining.size;
  }

  /** Connects the werift track that carries this layer's RTP. */
  bind(track: MediaStreamTrack, receiver: RTCRtpReceiver): void {
    if (this.#closed) return;
    this.#unsubscribe?.();
    this.#receiver = receiver;
    this.ssrc = track.ssrc;
    const { unSubscribe } = track.onReceiveRtp.subscribe((rtp) => this.forward(rtp));
    // Recordings align audio and video by these, as players do.
    const rtcp = track.onReceiveRtcp.subscribe((p) => {
      if (p.type === 200) {
        this.senderReport = { ntpTime: p.senderInfo.ntpTimestamp, rtpTimestamp: p.senderInfo.rtpTimestamp, receivedAt: Date.now() };
      }
    });
    this.#unsubscribe = () => {
      unSubscribe();
      rtcp.unSubscribe();
    };
  }

  forward(rtp: RtpPacket): void {
    const header = rtp.header;
    const size = rtp.payload.length + header.serializeSize;
    this.counters.packets++;
    this.counters.bytes += size;
    this.lastPacketAt = Date.now();
    this.ssrc = header.ssrc;
    const seq = header.sequenceNumber;
    if (this.#lastSeq >= 0) {
      const gap = (seq - this.#lastSeq - 1) & 0xffff;
      // Gaps above 1000 are restarts or reordering, not loss worth counting.
      if (gap > 0 && gap < 1000) {
        this.counters.lost += gap;
        this.#hooks.onLost(gap);
      }
    }
    if (((seq - this.#lastSeq) & 0xffff) < 0x8000 || this.#lastSeq < 0) this.#lastSeq = seq;
    // A frame's packets share one timestamp; a late packet of an earlier frame (step "backwards") is not a new one.
    const ts = header.timestamp;
    const step = (ts - this.#lastTimestamp) >>> 0;
    if (this.#lastTimestamp < 0 || (step !== 0 && step < 0x80000000)) {
      this.counters.frames++;
      this.#lastTimestamp = ts;
    }
    this.#hooks.onPacket(size);
    // The publisher's header extensions use the publisher's ids, which mean other things (or nothing) to each
    // viewer; werift would copy them into every viewer's packet. It writes the viewer's own (mid) itself.
    if (header.extensions.length > 0) header.extensions = [];
    this.#gop?.push(rtp);
    this.#history[seq & (HISTORY_SIZE - 1)] = rtp;
    if (this.#keyframeListener !== undefined) this.#keyframeAt(rtp);
    const taps = this.#taps;
    for (let i = 0; i < taps.length; i++) (taps[i] as RtpTap)(rtp);
    const sinks = this.#sinks;
    if (sinks.length === 0) return;
    // One clock read per packet, shared by every viewer's sender report.
    const ntp = ntpNow();
    for (let i = 0; i < sinks.length; i++) (sinks[i] as LayerSink).write(rtp, ntp);
    this.#hooks.flush();
    this.#hooks.onForwarded(sinks.length);
  }

  /** The packet still kept under this source sequence number, for a NACK. */
  packetAt(seq: number): RtpPacket | undefined {
    const rtp = this.#history[seq & (HISTORY_SIZE - 1)];
    return rtp !== undefined && rtp.header.sequenceNumber === seq ? rtp : undefined;
  }

  /** Viewers switching to this layer come in at a keyframe, so their decoder never sees a broken frame. */
  #keyframeAt(rtp: RtpPacket): void {
    if (this.#keyframes !== undefined && !isKeyframeStart(this.#keyframes, rtp.payload)) return;
    const listener = this.#keyframeListener as KeyframeListener;
    this.#keyframeListener = undefined;
    listener(this, rtp.header);
  }

  /**
   * `listener` hears this layer's next keyframe (once), and a keyframe is asked for until then; undefined stops
   * listening. The track sets it while a viewer waits to switch here.
   */
  onNextKeyframe(listener: KeyframeListener | undefined): void {
    if (this.#closed) return;
    const asked = listener !== undefined && this.#keyframeListener === undefined;
    this.#keyframeListener = listener;
    if (asked) this.requestKeyframe();
  }

  /** Sends to `stream` from the next packet on: a viewer switched here at this keyframe. */
  addSinkNow(stream: LayerSink): void {
    if (this.#closed || this.#sinks.includes(stream)) return;
    this.#joining.delete(stream);
    // A new array, so a forward() in progress keeps iterating the old one.
    this.#sinks = [...this.#sinks, stream];
  }

  /** Adds a viewer; it first gets the cached GOP, in order, so its decoder starts at a keyframe at once. */
  addSink(stream: LayerSink): void {
    if (this.#closed || this.#sinks.includes(stream) || this.#joining.has(stream)) return;
    const gop = this.#gop;
    if (gop === undefined || gop.packets.length === 0) {
      // A new array, so a forward() in progress keeps iterating the old one.
      this.#sinks = [...this.#sinks, stream];
      return;
    }
    this.#joining.add(stream);
    let packets = gop.packets;
    let next = 0;
    const step = () => {
      if (this.#closed || !this.#joining.has(stream)) return;
      // A keyframe since the last step started a new GOP: the rest of the old one first (the cache replaced its
      // array rather than emptying it), then the new one from its start, so the viewer misses no packet.
      if (next >= packets.length && gop.packets !== packets) {
        packets = gop.packets;
        next = 0;
      }
      const end = Math.min(packets.length, next + REPLAY_BURST);
      if (next < end) {
        const ntp = ntpNow();
        for (; next < end; next++) stream.write(packets[next] as RtpPacket, ntp);
        this.#hooks.flush();
      }
      // A GOP that began during this burst is sent at the next step, from its start.
      if (next >= packets.length && gop.packets === packets) {
        // Caught up: every packet so far was in the cache, every later one comes through forward().
        this.#joining.delete(stream);
        this.#sinks = [...this.#sinks, stream];
        return;
      }
      setTimeout(step, REPLAY_INTERVAL_MS);
    };
    step();
  }

  removeSink(stream: LayerSink): void {
    this.#joining.delete(stream);
    if (this.#sinks.includes(stream)) this.#sinks = this.#sinks.filter((s) => s !== stream);
  }

  /** A raw-packet listener (recorders); returns its remover. */
  addTap(tap: RtpTap): () => void {
    this.#taps = [...this.#taps, tap];
    return () => {
      this.#taps = this.#taps.filter((t) => t !== tap);
    };
  }

  /** Asks the publisher for a keyframe on this layer, at most once per PLI_THROTTLE_MS. */
  requestKeyframe(): boolean {
    if (this.#keyframes === undefined || this.#closed) return false;
    if (this.#keyframeRequester) return this.#keyframeRequester();
    const receiver = this.#receiver;
    const ssrc = this.ssrc;
    const now = Date.now();
    if (!receiver || ssrc === undefined || now - this.#lastPliAt < PLI_THROTTLE_MS) {
      this.#hooks.onKeyframeRequest(false);
      return false;
    }
    this.#lastPliAt = now;
    receiver.sendRtcpPLI(ssrc).catch(noop);
    this.#hooks.onKeyframeRequest(true);
    return true;
  }

  /** Called once a second by the room: bitrate over the last tick. */
  tick(elapsedMs: number): void {
    // A PLI can be lost, or throttled when it was asked: viewers waiting to switch here ask again each second.
    if (this.#keyframeListener !== undefined) this.requestKeyframe();
    const delta = this.counters.bytes - this.#bytesAtTick;
    this.#bytesAtTick = this.counters.bytes;
    this.bitrate = elapsedMs > 0 ? Math.round((delta * 8 * 1000) / elapsedMs) : 0;
    const packets = this.counters.packets - this.#packetsAtTick;
    this.#packetsAtTick = this.counters.packets;
    this.packetRate = elapsedMs > 0 ? Math.round((packets * 1000) / elapsedMs) : 0;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#sinks = [];
    this.#joining.clear();
    this.#keyframeListener = undefined;
    this.#taps = [];
    this.#receiver = undefined;
    this.#gop?.clear();
    this.#history.fill(undefined);
  }
}
