// Every werift field roomcast reaches past werift's declarations for (src/rtc/weriftInternals.ts), checked on real
// werift objects: two peers connected over loopback with a video track, and real RTCP packets. A werift upgrade
// that renames or retypes one fails here, naming it, instead of silently turning a feature off at run time.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtcpPacketConverter,
  RtcpReceiverInfo,
  RtcpRrPacket,
  RtpHeader,
  RtpPacket,
  type RTCRtpSender,
} from "werift";
import {
  dtlsSocket,
  iceConnectionOf,
  iceConnections,
  localSrtpContext,
  rawRtcp,
  rtcpReports,
  rtcpSink,
  senderCounters,
  senderState,
  udpTransportClass,
} from "../../../src/rtc/weriftInternals.ts";

const VP8 = new RTCRtpCodecParameters({ mimeType: "video/VP8", clockRate: 90000, rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }] });

function peer(): RTCPeerConnection {
  return new RTCPeerConnection({ codecs: { video: [VP8], audio: [] }, iceAdditionalHostAddresses: ["127.0.0.1"], bundlePolicy: "max-bundle" });
}

async function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") return;
  await new Promise<void>((res) => pc.iceGatheringStateChange.subscribe((s) => s === "complete" && res()));
}

async function connected(pc: RTCPeerConnection): Promise<void> {
  if (pc.connectionState === "connected") return;
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`not connected: ${pc.connectionState}`)), 10_000);
    pc.connectionStateChange.subscribe((s) => {
      if (s === "connected") {
        clearTimeout(timer);
        res();
      }
    });
  });
}

let offerer: RTCPeerConnection;
let answerer: RTCPeerConnection;
let sender: RTCRtpSender;

beforeAll(async () => {
  offerer = peer();
  answerer = peer();
  const track = new MediaStreamTrack({ kind: "video" });
  sender = offerer.addTransceiver(track, { direction: "sendonly" }).sender;
  await offerer.setLocalDescription(await offerer.createOffer());
  await gathered(offerer);
  await answerer.setRemoteDescription(offerer.localDescription!);
  await answerer.setLocalDescription(await answerer.createAnswer());
  await gathered(answerer);
  await offerer.setRemoteDescription(answerer.localDescription!);
  await Promise.all([connected(offerer), connected(answerer)]);
  // werift's own send path: it starts werift's report loop and counts.
  for (let i = 0; i < 5; i++) track.writeRtp(new RtpPacket(new RtpHeader({ sequenceNumber: i, timestamp: i * 3000, payloadType: 96, ssrc: 1 }), Buffer.alloc(100, i)));
  // The loop's first report goes out 0.5-1.5 s after the first packet.
  const s = senderState(sender);
  const end = Date.now() + 5000;
  while (s.lastSRtimestamp === undefined && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
}, 30_000);

afterAll(async () => {
  await Promise.allSettled([offerer?.close(), answerer?.close()]);
});

/** `expect(typeof value).toBe(type)`, with the field's name in the failure. */
function typed(fields: Record<string, unknown>, types: Record<string, string>): void {
  const actual = Object.fromEntries(Object.keys(types).map((k) => [k, Array.isArray(fields[k]) ? "array" : typeof fields[k]]));
  expect(actual).toEqual(types);
}

describe("werift's internals, as roomcast reads them", () => {
  it("the sender's fields the forwarding path reads and keeps current (senderState)", () => {
    const s = senderState(sender);
    typed(s as unknown as Record<string, unknown>, {
      ssrc: "number",
      codec: "object",
      mid: "string",
      headerExtensions: "array",
      dtlsTransport: "object",
      ntpTimestamp: "bigint",
      rtpTimestamp: "number",
      packetCount: "number",
      octetCount: "number",
      retransmittedPacketsSent: "number",
      cname: "string",
      rtcpRunning: "boolean",
      lastSRtimestamp: "number",
      lastSentSRTimestamp: "number",
    });
    expect(typeof s.codec?.payloadType).toBe("number");
    expect(s.headerExtensions?.every((e) => typeof e.uri === "string" && typeof e.id === "number")).toBe(true);
    // werift counted what it sent, and its report loop runs.
    expect(s.packetCount).toBe(5);
    expect(s.octetCount).toBe(500);
    expect(s.rtcpRunning).toBe(true);
  });

  it("the sender's RTCP counters the room API reads (senderCounters); rtt and REMB are fields before any RTCP", () => {
    const c = senderCounters(sender);
    typed(c as unknown as Record<string, unknown>, { packetCount: "number", octetCount: "number", nackCount: "number", pliCount: "number" });
    expect("rtt" in sender).toBe(true);
    expect("receiverEstimatedMaxBitrate" in sender).toBe(true);
  });

  it("the DTLS transport: RTCP out (rtcpSink, rawRtcp), the SRTP keys (localSrtpContext), the record layer (dtlsSocket)", async () => {
    const transport = offerer.dtlsTransports[0];
    if (!transport) throw new Error("no DTLS transport");
    const sink = rtcpSink(senderState(sender).dtlsTransport);
    expect(sink).toBeDefined();
    // werift serializes whatever it is handed through serialize(): TWCC feedback goes out this way.
    await expect(sink?.sendRtcp([rawRtcp(new RtcpRrPacket({ ssrc: 1, reports: [] }).serialize())])).resolves.not.toThrow();

    const srtp = localSrtpContext(transport);
    typed(srtp as unknown as Record<string, unknown>, { profile: "number", srtpSessionKey: "object", srtpSessionSalt: "object" });
    expect(Buffer.isBuffer(srtp?.srtpSessionKey)).toBe(true);
    expect(srtp?.srtpSessionKey.length).toBe(16);

    const sock = dtlsSocket(transport);
    expect(sock?.connected).toBe(true);
    typed(sock?.dtls as unknown as Record<string, unknown>, { version: "object", epoch: "number", recordSequenceNumber: "number" });
    expect(typeof sock?.dtls?.version.major).toBe("number");
    expect(typeof sock?.cipher?.encryptPacket).toBe("function");
    expect(typeof sock?.transport?.send).toBe("function");
  });

  it("ICE: each transport's connection with both usernames, its protocols' transports and the nominated pair", () => {
    const [c] = iceConnections(offerer);
    if (!c) throw new Error("no ICE connection");
    typed(c as unknown as Record<string, unknown>, { localUsername: "string", remoteUsername: "string", protocols: "array", nominated: "object" });
    expect(c.localUsername.length).toBeGreaterThan(0);
    expect(c.remoteUsername.length).toBeGreaterThan(0);
    expect(c.protocols.some((p) => typeof p.transport === "object")).toBe(true);
    expect(typeof c.nominated?.protocol.transport).toBe("object");
    expect([typeof c.nominated?.remoteAddr[0], typeof c.nominated?.remoteAddr[1]]).toEqual(["string", "number"]);
    // A sender's DTLS transport leads to its own ICE agent's connection (the one of its section, unbundled).
    expect(iceConnectionOf(senderState(sender).dtlsTransport)).toBe(c);
  });

  it("werift's UDP socket factory (udpTransportClass) has init()", () => {
    expect(typeof udpTransportClass().init).toBe("function");
  });

  it("a receiver report's blocks (rtcpReports), from a real RR packet parsed back", () => {
    const rr = new RtcpRrPacket({ ssrc: 9, reports: [new RtcpReceiverInfo({ ssrc: 42, fractionLost: 12, packetsLost: 3, highestSequence: 100, jitter: 90, lsr: 0, dlsr: 0 })] });
    const [parsed] = RtcpPacketConverter.deSerialize(rr.serialize());
    expect(rtcpReports(parsed).map((r) => [r.ssrc, r.fractionLost, r.packetsLost, r.jitter])).toEqual([[42, 12, 3, 90]]);
    expect(rtcpReports({})).toEqual([]);
  });
});
