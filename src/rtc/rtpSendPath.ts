// Our own send path for one werift sender: each packet is written once into a batch slot of the UDP mux (header
// with the sender's SSRC, payload type, the sequence number and timestamp it is given, then the payload),
// protected in place with this stream's SRTP state and queued, so the mux sends all viewers' copies of a packet in
// one sendMany. werift's RTCRtpSender stays for what is not per packet: the SDP, RTCP in (PLI, NACK, REMB,
// receiver reports), and the counters this path keeps current for its stats and for the sender reports that the
// server's scheduler has it send.
//
// Until the path is ready (no DTLS keys yet, or the peer is not on a mux, as for werift's own sockets) packets go
// through werift's sendRtp, which rewrites them itself.
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
import type { ReportingStream, SenderReportScheduler } from "./senderReports.ts";
import { SrtpStreamProtector, localSrtpKeys } from "./srtpProtect.ts";
import { mediaTarget, type MediaTarget } from "./weriftMux.ts";
import { rtcpSink, senderState, type SenderState } from "./weriftInternals.ts";

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

export class RtpSendPath implements ReportingStream {
  readonly sender: RTCRtpSender;
  readonly #state: SenderState;
  readonly #pc: RTCPeerConnection;
  readonly #reports: SenderReportScheduler | undefined;
  #fast: FastPath | undefined;
  #protector: SrtpStreamProtector | undefined;
  /** The session key the protector was made with: a new key (a new DTLS handshake) needs a new protector. */
  #protectorKey: Buffer | undefined;
  #closed = false;
  #paused = false;
  /** Set once a packet went out on this path: before, there is nothing to report. */
  #sent = false;

  /** Without `reports` (no server media socket: unit tests) the path never takes over from werift's. */
  constructor(sender: RTCRtpSender, pc: RTCPeerConnection, reports: SenderReportScheduler | undefined) {
    this.sender = sender;
    this.#state = senderState(sender);
    this.#pc = pc;
    this.#reports = reports;
  }

  /** Whether packets go out on this path (the caller rewrites them) rather than werift's. */
  get fast(): boolean {
    return this.#fast !== undefined;
  }

  /** Nothing may go out now: the transport is in trouble (disconnected, restarting, closed). */
  get held(): boolean {
    return this.#paused || this.#fast === undefined || this.#fast.target.transport.closed;
  }

  /** Finds the keys and the peer's address; called when the viewer connects and once a second after. */
  refresh(): void {
    if (this.#closed || this.#reports === undefined) return;
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
    // turn, and the server's scheduler reports from here on, with the counters this path keeps.
    this.#state.rtcpRunning = false;
    this.#reports.add(this);
  }

  /**
   * An RTCP sender report (and SDES CNAME), as werift's loop would send it: the receiver syncs audio with video by
   * it, and its receiver reports then give the round trip. Sent by the server's scheduler.
   */
  sendReport(): void {
    const s = this.#state;
    const fast = this.#fast;
    // Nothing sent yet, or werift sent this stream's first packets and runs its own loop: never two reports.
    if (this.#closed || this.#paused || fast === undefined || fast.target.transport.closed || !this.#sent || s.rtcpRunning) return;
    const sink = rtcpSink(s.dtlsTransport);
    if (!sink) return;
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
    this.#reports?.remove(this);
    this.#fast = undefined;
    this.#protector?.close();
    this.#protector = undefined;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** While paused (transport failed or disconnected) nothing is sent or queued. */
  pause(paused: boolean): void {
    this.#paused = paused;
  }

  /** werift's own path: it rewrites the packet for this sender and sends it. */
  sendViaWerift(rtp: RtpPacket): void {
    if (this.#closed) return;
    // sendRtp rejects only when a viewer's transport is closing; that viewer is reaped by its own watch.
    this.sender.sendRtp(rtp).catch(noop);
  }

  /** werift's own path: its next packet (`header`) continues the stream `step` RTP ticks on. */
  continueViaWerift(header: RtpPacket["header"], step: number): void {
    this.sender.replaceRTP(header, false, step);
  }

  /** One packet under this sequence number and timestamp, queued on the mux; the caller checked `held`. */
  send(rtp: RtpPacket, seq: number, ts: number, ntp: bigint): void {
    this.#write(this.#fast as FastPath, rtp, seq, ts);
    this.#sent = true;
    const s = this.#state;
    s.ntpTimestamp = ntp;
    s.rtpTimestamp = ts;
    s.packetCount = (s.packetCount + 1) >>> 0;
    s.octetCount += rtp.payload.length;
  }

  /** A NACKed packet again, sent at once; the caller checked `held`. */
  resend(rtp: RtpPacket, seq: number, ts: number): void {
    const fast = this.#fast as FastPath;
    this.#write(fast, rtp, seq, ts);
    this.#state.retransmittedPacketsSent = (this.#state.retransmittedPacketsSent ?? 0) + 1;
    fast.target.transport.mux.flush();
  }

  /** Writes, protects and queues one packet, in a batch slot of the mux: nothing allocated for it here. */
  #write(fast: FastPath, rtp: RtpPacket, seq: number, ts: number): void {
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
