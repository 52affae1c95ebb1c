// One outgoing RTP stream of one viewer: the forwarding hot path. Each packet is written once into its own
// buffer (header with this viewer's SSRC, payload type, sequence and timestamp, then the payload), protected in
// place with this stream's SRTP state, and queued on the UDP mux, which sends all viewers' copies of a packet in
// one sendMany. werift's RTCRtpSender stays for what is not per packet: the SDP, RTCP in (PLI, NACK, REMB,
// receiver reports), and the counters this stream keeps current for its stats and for the sender reports that
// the server-wide scheduler has this stream send.
//
// Until the fast path is ready (no DTLS keys yet, or the peer is not on the mux, as under Node in tests) packets
// go through werift's sendRtp as before.
import {
  RtcpSenderInfo,
  RtcpSourceDescriptionPacket,
  RtcpSrPacket,
  SourceDescriptionChunk,
  SourceDescriptionItem,
  compactNtp,
  timestampSeconds,
  type RTCPeerConnection,
  type RTCRtpSender,
  type RtpPacket,
} from "werift";
import { senderReports, type ReportingStream } from "../rtc/senderReports.ts";
import { SrtpStreamProtector, localSrtpKeys } from "../rtc/srtpProtect.ts";
import { mediaTarget, muxInstalled, type MediaTarget } from "../rtc/weriftMux.ts";

const noop = () => undefined;
const NTP_UNIX_OFFSET_S = 2_208_988_800;
const RTP_HEADER = 12;
/** The largest SRTP tag (GCM): every buffer leaves room for it. */
const MAX_TAG = 16;
const URI_SDES_MID = "urn:ietf:params:rtp-hdrext:sdes:mid";

/** Now as a 64-bit NTP timestamp, which werift's sender reports carry. */
export function ntpNow(): bigint {
  const ms = performance.timeOrigin + performance.now();
  const seconds = Math.floor(ms / 1000);
  const fraction = Math.floor(((ms - seconds * 1000) / 1000) * 0x1_0000_0000);
  return (BigInt(seconds + NTP_UNIX_OFFSET_S) << 32n) | BigInt(fraction);
}

/** Sends everything the streams queued during one forward: one sendMany for all viewers. */
export function flushSends(): void {
  muxInstalled()?.flush();
}

/** werift's sender fields this stream reads or keeps current, for sender reports and stats. */
interface SenderState {
  ssrc: number;
  codec?: { payloadType: number };
  mid?: string;
  headerExtensions?: { uri: string; id: number }[];
  dtlsTransport?: unknown;
  ntpTimestamp: bigint;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
  retransmittedPacketsSent: number;
  cname?: string;
  /** True while werift's own report loop runs (it starts on werift's first sendRtp). */
  rtcpRunning: boolean;
  /** What werift matches a receiver report's LSR and DLSR against to compute the round trip. */
  lastSRtimestamp?: number;
  lastSentSRTimestamp?: number;
}

/** The part of werift's DTLS transport that sends RTCP (SRTCP-protected, to the selected pair). */
interface RtcpSink {
  sendRtcp(packets: unknown[]): Promise<unknown>;
}

/** The one-byte header extension block (RFC 8285) carrying the mid, as werift would write it. */
function midExtension(sender: SenderState): Buffer | undefined {
  const mid = sender.mid;
  const id = sender.headerExtensions?.find((e) => e.uri === URI_SDES_MID)?.id;
  if (mid === undefined || mid === "" || id === undefined || id < 1 || id > 14) return undefined;
  const bytes = Buffer.from(mid, "utf8");
  if (bytes.length > 16) return undefined;
  const words = Math.ceil((1 + bytes.length) / 4);
  const block = Buffer.alloc(4 + words * 4);
  block.writeUInt16BE(0xbede, 0);
  block.writeUInt16BE(words, 2);
  block[4] = (id << 4) | (bytes.length - 1);
  bytes.copy(block, 5);
  return block;
}

interface FastPath {
  protector: SrtpStreamProtector;
  target: MediaTarget;
  payloadType: number;
  extension: Buffer | undefined;
}

export class ViewerStream implements ReportingStream {
  readonly sender: RTCRtpSender;
  readonly #state: SenderState;
  readonly #pc: RTCPeerConnection;
  #fast: FastPath | undefined;
  #protector: SrtpStreamProtector | undefined;
  /** The session key the protector was made with: a new key (a new DTLS handshake) needs a new protector. */
  #protectorKey: Buffer | undefined;
  #closed = false;
  #paused = false;
  #seqOffset = 0;
  #tsOffset = 0;
  /** Set by continueAt: the next packet is rebased to follow the last one sent, this far on in time. */
  #switchStep: number | undefined;
  #lastSeq = -1;
  #lastTs = 0;
  /** The first output sequence number of the current mapping: NACKs before it name another source. */
  #epochSeq = 0;

  constructor(sender: RTCRtpSender, pc: RTCPeerConnection) {
    this.sender = sender;
    // werift keeps these as instance fields without declaring them public.
    this.#state = sender as unknown as SenderState;
    this.#pc = pc;
  }

  /** Whether packets go out on our own path rather than werift's. */
  get fast(): boolean {
    return this.#fast !== undefined;
  }

  /** Finds the keys and the peer's address; called when the viewer connects and once a second after. */
  refresh(): void {
    if (this.#closed) return;
    const target = mediaTarget(this.#pc, this.#state.dtlsTransport);
    const keys = localSrtpKeys(this.#state.dtlsTransport);
    const payloadType = this.#state.codec?.payloadType;
    if (!target || !keys || payloadType === undefined) {
      this.#fast = undefined;
      return;
    }
    const current = this.#fast;
    if (current && current.target.transport === target.transport && current.target.address === target.address && current.target.port === target.port) return;
    // One protector for the stream's life (its rollover counter must not restart), unless DTLS keyed it anew.
    if (this.#protector === undefined || this.#protectorKey !== keys.sessionKey) {
      this.#protector?.close();
      this.#protector = new SrtpStreamProtector(keys, this.#state.ssrc);
      this.#protectorKey = keys.sessionKey;
    }
    this.#fast = { protector: this.#protector, target, payloadType, extension: midExtension(this.#state) };
    // werift's report loop runs if werift sent the first packets (its sendRtp starts it): it ends at its next
    // turn, and the server-wide scheduler reports from here on, with the counters this path keeps.
    this.#state.rtcpRunning = false;
    senderReports.add(this);
  }

  /**
   * An RTCP sender report (and SDES CNAME), as werift's loop would send it: the receiver syncs audio with video by
   * it, and its receiver reports then give the round trip. Sent by the server-wide scheduler.
   */
  sendReport(): void {
    const s = this.#state;
    const fast = this.#fast;
    // Nothing sent yet, or werift sent this stream's first packets and runs its own loop: never two reports.
    if (this.#closed || this.#paused || fast === undefined || fast.target.transport.closed || this.#lastSeq < 0 || s.rtcpRunning) return;
    const sink = s.dtlsTransport as RtcpSink | undefined;
    if (typeof sink?.sendRtcp !== "function") return;
    const packets: unknown[] = [
      new RtcpSrPacket({
        ssrc: s.ssrc,
        senderInfo: new RtcpSenderInfo({
          ntpTimestamp: s.ntpTimestamp,
          rtpTimestamp: s.rtpTimestamp,
          packetCount: s.packetCount,
          octetCount: s.octetCount,
        }),
      }),
    ];
    s.lastSRtimestamp = compactNtp(s.ntpTimestamp);
    s.lastSentSRTimestamp = timestampSeconds();
    if (s.cname) {
      packets.push(
        new RtcpSourceDescriptionPacket({
          chunks: [new SourceDescriptionChunk({ source: s.ssrc, items: [new SourceDescriptionItem({ type: 1, text: s.cname })] })],
        }),
      );
    }
    // Rejects only while the transport is closing; that viewer is reaped by its own watch.
    sink.sendRtcp(packets).catch(noop);
  }

  /** The viewer left: nothing more is sent, and the SRTP context is freed. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    senderReports.remove(this);
    this.#fast = undefined;
    this.#protector?.close();
    this.#protector = undefined;
  }

  /** While paused (transport failed or disconnected) nothing is sent or queued for this viewer. */
  pause(paused: boolean): void {
    this.#paused = paused;
  }

  /** The next packet written (a keyframe of another layer) continues this stream, step RTP ticks later. */
  continueAt(step: number, header: RtpPacket["header"]): void {
    this.#switchStep = step;
    if (!this.#fast) this.sender.replaceRTP(header, false, step);
  }

  write(rtp: RtpPacket, ntp: bigint): void {
    const fast = this.#fast;
    if (fast === undefined) {
      if (this.#closed) return;
      // sendRtp rejects only when a viewer's transport is closing; that viewer is reaped by its own watch.
      this.sender.sendRtp(rtp).catch(noop);
      return;
    }
    // Nothing for a viewer whose transport is in trouble (disconnected, restarting, closed).
    if (this.#paused || fast.target.transport.closed) return;
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
    this.#send(fast, rtp, seq, ts);
    this.#lastSeq = seq;
    this.#lastTs = ts;
    const s = this.#state;
    s.ntpTimestamp = ntp;
    s.rtpTimestamp = ts;
    s.packetCount = (s.packetCount + 1) >>> 0;
    s.octetCount += rtp.payload.length;
  }

  /**
   * A NACKed packet again, with the sequence number the viewer saw: `source` is the packet the layer still has
   * under the source sequence number this stream mapped to `seq`. Returns false when the mapping has moved on.
   */
  resend(seq: number, lookup: (sourceSeq: number) => RtpPacket | undefined): boolean {
    const fast = this.#fast;
    if (!fast || this.#paused || this.#lastSeq < 0) return false;
    // Only packets of the current mapping: between its first and the newest sent.
    if (((seq - this.#epochSeq) & 0xffff) > ((this.#lastSeq - this.#epochSeq) & 0xffff)) return false;
    const source = lookup((seq - this.#seqOffset) & 0xffff);
    if (!source) return false;
    this.#send(fast, source, seq, (source.header.timestamp + this.#tsOffset) >>> 0);
    this.#state.retransmittedPacketsSent = (this.#state.retransmittedPacketsSent ?? 0) + 1;
    flushSends();
    return true;
  }

  /** Writes, protects and queues one packet, in a batch slot of the mux: nothing allocated for it here. */
  #send(fast: FastPath, rtp: RtpPacket, seq: number, ts: number): void {
    const header = rtp.header;
    const ext = fast.extension;
    const headerLength = RTP_HEADER + (ext === undefined ? 0 : ext.length);
    const padding = header.padding && header.paddingSize > 0 ? header.paddingSize : 0;
    let plain: Uint8Array = rtp.payload;
    if (padding > 0) {
      // Padding is encrypted with the payload (RFC 3711 §3.1): the rare padded packet gets a buffer of its own.
      const padded = Buffer.alloc(plain.length + padding);
      padded.set(plain, 0);
      padded[padded.length - 1] = padding;
      plain = padded;
    }
    const mux = fast.target.transport.mux;
    const buf = mux.slot(headerLength + plain.length + MAX_TAG);
    buf[0] = 0x80 | (padding > 0 ? 0x20 : 0) | (ext === undefined ? 0 : 0x10);
    buf[1] = (header.marker ? 0x80 : 0) | fast.payloadType;
    buf.writeUInt16BE(seq, 2);
    buf.writeUInt32BE(ts, 4);
    buf.writeUInt32BE(this.#state.ssrc >>> 0, 8);
    if (ext !== undefined) buf.set(ext, RTP_HEADER);
    const n = fast.protector.protect(buf, headerLength, plain);
    if (n === 0) return;
    mux.queueWritten(buf, n, fast.target.port, fast.target.address);
  }
}
