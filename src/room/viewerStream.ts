// One outgoing RTP stream of one viewer, as its layers see it: every packet is renumbered so that the viewer sees
// one continuous stream across layer switches (and publishers that come back), and a NACK is answered only for
// packets of the current numbering. The bytes go out on the transport's send path (rtc/rtpSendPath.ts).
// This is the forwarding hot path: no awaits, nothing allocated per packet.
import type { RtpPacket } from "werift";
import type { LayerSink } from "./trackLayer.ts";

/** What a viewer stream sends on: rtc/rtpSendPath.ts's RtpSendPath. */
export interface SendPath {
  /** Packets go out on our own path, renumbered here; otherwise werift's sendRtp renumbers them. */
  readonly fast: boolean;
  /** Nothing may go out now: the viewer's transport is in trouble. */
  readonly held: boolean;
  send(rtp: RtpPacket, seq: number, ts: number, ntp: bigint): void;
  resend(rtp: RtpPacket, seq: number, ts: number): void;
  sendViaWerift(rtp: RtpPacket): void;
  continueViaWerift(header: RtpPacket["header"], step: number): void;
}

export class ViewerStream implements LayerSink {
  readonly #path: SendPath;
  #seqOffset = 0;
  #tsOffset = 0;
  /** Set by continueAt: the next packet is rebased to follow the last one sent, this far on in time. */
  #switchStep: number | undefined;
  #lastSeq = -1;
  #lastTs = 0;
  /** The first output sequence number of the current mapping: NACKs before it name another source. */
  #epochSeq = 0;

  constructor(path: SendPath) {
    this.#path = path;
  }

  /** Whether packets go out on our own path (so NACKs are ours to answer). */
  get fast(): boolean {
    return this.#path.fast;
  }

  /** The next packet written (a keyframe of another layer) continues this stream, step RTP ticks later. */
  continueAt(step: number, header: RtpPacket["header"]): void {
    this.#switchStep = step;
    if (!this.#path.fast) this.#path.continueViaWerift(header, step);
  }

  write(rtp: RtpPacket, ntp: bigint): void {
    const path = this.#path;
    if (!path.fast) {
      path.sendViaWerift(rtp);
      return;
    }
    if (path.held) return;
    const header = rtp.header;
    if (this.#switchStep !== undefined) {
      if (this.#lastSeq >= 0) {
        this.#seqOffset = (this.#lastSeq + 1 - header.sequenceNumber) & 0xffff;
        this.#tsOffset = (this.#lastTs + this.#switchStep - header.timestamp) >>> 0;
      }
      this.#switchStep = undefined;
      this.#epochSeq = (header.sequenceNumber + this.#seqOffset) & 0xffff;
    } else if (this.#lastSeq < 0) {
      this.#epochSeq = (header.sequenceNumber + this.#seqOffset) & 0xffff;
    }
    const seq = (header.sequenceNumber + this.#seqOffset) & 0xffff;
    const ts = (header.timestamp + this.#tsOffset) >>> 0;
    path.send(rtp, seq, ts, ntp);
    this.#lastSeq = seq;
    this.#lastTs = ts;
  }

  /**
   * A NACKed packet again, with the sequence number the viewer saw: `lookup` finds the packet the layer still has
   * under the source sequence number this stream mapped to `seq`. Returns false when the mapping has moved on.
   */
  resend(seq: number, lookup: (sourceSeq: number) => RtpPacket | undefined): boolean {
    const path = this.#path;
    if (!path.fast || path.held || this.#lastSeq < 0) return false;
    // Only packets of the current mapping: between its first and the newest sent.
    if (((seq - this.#epochSeq) & 0xffff) > ((this.#lastSeq - this.#epochSeq) & 0xffff)) return false;
    const source = lookup((seq - this.#seqOffset) & 0xffff);
    if (!source) return false;
    path.resend(source, seq, (source.header.timestamp + this.#tsOffset) >>> 0);
    return true;
  }
}
