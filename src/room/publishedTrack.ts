// One track a publisher sends, and the viewers' senders it feeds. This is the hot path: one RTP packet in,
// N out, no awaits and no per-packet allocation of our own (werift's sendRtp clones per viewer).
import type { MediaStreamTrack, RTCRtpReceiver, RTCRtpSender, RtpPacket } from "werift";
import type { CodecInfo } from "../rtc/codecs.ts";
import { keyframeCodec } from "../rtc/keyframe.ts";
import { GopCache } from "./gopCache.ts";
import type { MediaKind } from "../rtc/sdp.ts";

/** At most one keyframe request per this many ms reaches a publisher, however many viewers ask. */
export const PLI_THROTTLE_MS = 500;

export interface TrackCounters {
  packets: number;
  bytes: number;
  lost: number;
}

export interface TrackHooks {
  onPacket(bytes: number): void;
  onLost(count: number): void;
  onForwarded(count: number): void;
  onKeyframeRequest(sent: boolean): void;
}

const noop = () => undefined;

export class PublishedTrack {
  readonly kind: MediaKind;
  readonly index: number;
  readonly mid: string | undefined;
  readonly codec: CodecInfo;
  readonly counters: TrackCounters = { packets: 0, bytes: 0, lost: 0 };
  /** Bits per second over the last stats tick. */
  bitrate = 0;
  ssrc: number | undefined;
  lastPacketAt = 0;

  #sinks: RTCRtpSender[] = [];
  #receiver: RTCRtpReceiver | undefined;
  #lastSeq = -1;
  #lastPliAt = -Infinity;
  #bytesAtTick = 0;
  #closed = false;
  readonly #gop: GopCache | undefined;
  readonly #hooks: TrackHooks;
  #unsubscribe: (() => void) | undefined;

  constructor(kind: MediaKind, index: number, mid: string | undefined, codec: CodecInfo, hooks: TrackHooks) {
    this.kind = kind;
    this.index = index;
    this.mid = mid;
    this.codec = codec;
    this.#hooks = hooks;
    const kc = kind === "video" ? keyframeCodec(codec.mimeType) : undefined;
    this.#gop = kc === undefined ? undefined : new GopCache(kc);
  }

  get viewerCount(): number {
    return this.#sinks.length;
  }

  /** Connects the werift track that carries this m-line's RTP. */
  bind(track: MediaStreamTrack, receiver: RTCRtpReceiver): void {
    if (this.#closed) return;
    this.#unsubscribe?.();
    this.#receiver = receiver;
    this.ssrc = track.ssrc;
    const { unSubscribe } = track.onReceiveRtp.subscribe((rtp) => this.forward(rtp));
    this.#unsubscribe = unSubscribe;
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
    this.#hooks.onPacket(size);
    this.#gop?.push(rtp);
    const sinks = this.#sinks;
    for (let i = 0; i < sinks.length; i++) {
      // sendRtp rejects only when a viewer's transport is closing; that viewer is reaped by its own watch.
      (sinks[i] as RTCRtpSender).sendRtp(rtp).catch(noop);
    }
    if (sinks.length > 0) this.#hooks.onForwarded(sinks.length);
  }

  /** Adds a viewer; it first gets the cached GOP, in order, so its decoder starts at a keyframe at once. */
  addSink(sender: RTCRtpSender): void {
    if (this.#closed || this.#sinks.includes(sender)) return;
    // Synchronous sends keep order: werift assigns sequence numbers before its first await.
    for (const rtp of this.#gop?.packets ?? []) sender.sendRtp(rtp).catch(noop);
    // A new array, so a forward() in progress keeps iterating the old one.
    this.#sinks = [...this.#sinks, sender];
  }

  removeSink(sender: RTCRtpSender): void {
    this.#sinks = this.#sinks.filter((s) => s !== sender);
  }

  /** Asks the publisher for a keyframe, at most once per PLI_THROTTLE_MS. Returns whether a PLI was sent. */
  requestKeyframe(): boolean {
    if (this.kind !== "video" || this.#closed) return false;
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
    const delta = this.counters.bytes - this.#bytesAtTick;
    this.#bytesAtTick = this.counters.bytes;
    this.bitrate = elapsedMs > 0 ? Math.round((delta * 8 * 1000) / elapsedMs) : 0;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#sinks = [];
    this.#receiver = undefined;
    this.#gop?.clear();
  }
}
