// Every place roomcast reads or writes werift fields that werift's declarations leave out, with their shapes
// declared once. werift 0.25.2 (patched, see patches/README.md) has them all; test/unit/rtc/weriftInternals.test.ts
// builds real werift objects and two real peers on loopback and fails, naming the field, when a werift upgrade
// renames or retypes one. Each accessor still degrades (undefined, no-op) rather than throw at run time: a media
// server must not crash on a changed field, and the test is what says loudly that one changed.
import * as werift from "werift";
import type { RTCDtlsTransport, RTCPeerConnection, RTCRtpSender, RtcpPacket } from "werift";

// ---- the sender: what our own send path keeps current for werift's RTCP (viewerStream / rtpSendPath) ------------

/** werift's RTCRtpSender fields the forwarding path reads or keeps current, for sender reports and stats. */
export interface SenderState {
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

/** The sender as a plain record of its fields: werift keeps them as instance fields without declaring them. */
export function senderState(sender: RTCRtpSender): SenderState {
  return sender as unknown as SenderState;
}

/** The counters werift keeps up to date on a sender from RTCP (and its own sends); read for the room API. */
export interface SenderCounters {
  packetCount: number;
  octetCount: number;
  nackCount: number;
  pliCount: number;
  rtt: number | undefined;
  receiverEstimatedMaxBitrate: number | undefined;
}

export function senderCounters(sender: RTCRtpSender): SenderCounters {
  return sender as unknown as SenderCounters;
}

/** The report blocks of an RTCP packet a sender hears (RR and SR both carry them); none for other packets. */
export function rtcpReports(packet: unknown): readonly { ssrc: number; fractionLost: number; packetsLost: number; jitter: number }[] {
  const reports = (packet as { reports?: unknown } | undefined)?.reports;
  return Array.isArray(reports) ? (reports as { ssrc: number; fractionLost: number; packetsLost: number; jitter: number }[]) : [];
}

// ---- the DTLS transport ----------------------------------------------------------------------------------------

/** What the DTLS transport sends RTCP with (SRTCP-protected, to the selected pair). */
export interface RtcpSink {
  sendRtcp(packets: unknown[]): Promise<unknown>;
}

/** The transport's RTCP sender, when it has one. */
export function rtcpSink(dtlsTransport: unknown): RtcpSink | undefined {
  const sink = dtlsTransport as RtcpSink | undefined;
  return typeof sink?.sendRtcp === "function" ? sink : undefined;
}

/** An RTCP packet werift has no class for (TWCC feedback built by rtc/twcc.ts): werift only calls serialize(). */
export function rawRtcp(bytes: Buffer): RtcpPacket {
  return { serialize: () => bytes } as unknown as RtcpPacket;
}

/** werift's SRTP context for what this side sends, as far as rtc/srtpProtect.ts reads it. */
export interface SrtpContextView {
  profile: number;
  srtpSessionKey: Buffer;
  srtpSessionSalt: Buffer;
  srtpSessionAuthTag?: Buffer;
}

/** The local SRTP context of a DTLS transport, once DTLS has derived the keys. */
export function localSrtpContext(dtlsTransport: unknown): SrtpContextView | undefined {
  return (dtlsTransport as { srtp?: { localContext?: SrtpContextView } } | undefined)?.srtp?.localContext;
}

/** The DTLS record layer of a transport's socket, for the close alert werift does not send (rtc/dtlsClose.ts). */
export interface DtlsSocketView {
  connected?: boolean;
  dtls?: { version: { major: number; minor: number }; epoch: number; recordSequenceNumber: number };
  cipher?: { encryptPacket(pkt: { recordLayerHeader: DtlsRecordHeader; fragment: Buffer }): { fragment: Buffer } };
  transport?: { send(buf: Buffer): Promise<void> | void };
}

export interface DtlsRecordHeader {
  contentType: number;
  protocolVersion: { major: number; minor: number };
  epoch: number;
  sequenceNumber: number;
  contentLen: number;
}

export function dtlsSocket(transport: RTCDtlsTransport): DtlsSocketView | undefined {
  return (transport as unknown as { dtls?: DtlsSocketView }).dtls;
}

// ---- ICE -------------------------------------------------------------------------------------------------------

/** The parts of werift's ICE connection (one per ICE transport) the UDP mux reads. */
export interface IceConnectionView {
  localUsername: string;
  remoteUsername: string;
  protocols: { transport?: unknown }[];
  nominated?: { protocol: { transport?: unknown }; remoteAddr: [string, number] };
}

export function iceConnections(pc: RTCPeerConnection): IceConnectionView[] {
  return pc.iceTransports.map((t) => t.connection as unknown as IceConnectionView);
}

/** The ICE connection of one DTLS transport (a sender's): its own agent, when the peer bundles nothing. */
export function iceConnectionOf(dtlsTransport: unknown): IceConnectionView | undefined {
  return (dtlsTransport as { iceTransport?: { connection?: IceConnectionView } } | undefined)?.iceTransport?.connection;
}

/** werift's UDP socket factory: every ICE agent's host candidates get their transport from init(). */
export interface UdpTransportClass {
  init(type: string, options?: unknown): Promise<unknown>;
}

/** werift's ESM bundle exports UdpTransport at run time though its declarations leave it out. */
export function udpTransportClass(): UdpTransportClass {
  return (werift as unknown as { UdpTransport: UdpTransportClass }).UdpTransport;
}
