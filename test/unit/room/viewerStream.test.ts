// A viewer's outgoing stream: packets renumbered into one continuous stream across layer switches, NACKs answered
// only within the current numbering, werift's own path until ours is ready. First over a recording send path
// (what is tested is the renumbering), then end to end on the wire: a real RtpSendPath on a real UDP mux and
// socket, SRTP-protected, received by a real socket and decrypted by werift. Stubbed only: the werift sender's
// fields and the ICE pair a connected peer would have (both are werift internals; weriftInternals.test.ts checks
// their shape on real werift objects).
import dgram from "node:dgram";
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { RTCPeerConnection, RTCRtpSender, RtpHeader, RtpPacket, SrtpSession } from "werift";
import { nodePlatform } from "../../../src/platform/node.ts";
import { ViewerStream, type SendPath } from "../../../src/room/viewerStream.ts";
import { RtpSendPath } from "../../../src/rtc/rtpSendPath.ts";
import { SenderReportScheduler } from "../../../src/rtc/senderReports.ts";
import { PROFILE_AEAD_AES_128_GCM } from "../../../src/rtc/srtpProtect.ts";
import { UdpMux } from "../../../src/rtc/udpMux.ts";

function packet(seq: number, ts: number, payload = Buffer.from([1, 2, 3, 4])): RtpPacket {
  return new RtpPacket(new RtpHeader({ sequenceNumber: seq & 0xffff, timestamp: ts >>> 0, payloadType: 96, ssrc: 7, marker: true }), payload);
}

class RecordingPath implements SendPath {
  fast = true;
  held = false;
  readonly sent: { seq: number; ts: number; source: number }[] = [];
  readonly resent: { seq: number; ts: number; source: number }[] = [];
  readonly viaWerift: number[] = [];
  readonly weriftContinues: { seq: number; step: number }[] = [];
  send(rtp: RtpPacket, seq: number, ts: number): void {
    this.sent.push({ seq, ts, source: rtp.header.sequenceNumber });
  }
  resend(rtp: RtpPacket, seq: number, ts: number): void {
    this.resent.push({ seq, ts, source: rtp.header.sequenceNumber });
  }
  sendViaWerift(rtp: RtpPacket): void {
    this.viaWerift.push(rtp.header.sequenceNumber);
  }
  continueViaWerift(header: RtpPacket["header"], step: number): void {
    this.weriftContinues.push({ seq: header.sequenceNumber, step });
  }
}

describe("ViewerStream renumbering", () => {
  it("passes a layer's numbering through until a switch; after one, continues from the last packet sent", () => {
    const path = new RecordingPath();
    const s = new ViewerStream(path);
    s.write(packet(100, 9000), 0n);
    s.write(packet(101, 12000), 0n);
    // The other layer numbers from 5000, its clock from 777: the viewer must see 102, 12000 + 3000.
    s.continueAt(3000, packet(5000, 777).header);
    s.write(packet(5000, 777), 0n);
    s.write(packet(5001, 3777), 0n);
    expect(path.sent.map(({ seq, ts }) => [seq, ts])).toEqual([
      [100, 9000],
      [101, 12000],
      [102, 15000],
      [103, 18000],
    ]);
  });

  it("wraps sequence numbers and timestamps at 16 and 32 bits", () => {
    const path = new RecordingPath();
    const s = new ViewerStream(path);
    s.write(packet(65535, 0xffffffff - 1000), 0n);
    s.continueAt(3000, packet(10, 0).header);
    s.write(packet(10, 0), 0n);
    s.write(packet(11, 3000), 0n);
    expect(path.sent.slice(1).map(({ seq, ts }) => [seq, ts])).toEqual([
      [0, 1999],
      [1, 4999],
    ]);
  });

  it("answers a NACK only for packets of the current numbering, with the number and time the viewer saw", () => {
    const path = new RecordingPath();
    const s = new ViewerStream(path);
    const history = new Map<number, RtpPacket>();
    const write = (p: RtpPacket) => {
      history.set(p.header.sequenceNumber, p);
      s.write(p, 0n);
    };
    const lookup = (source: number) => history.get(source);
    write(packet(100, 0));
    write(packet(101, 3000));
    expect(s.resend(100, lookup)).toBe(true);
    expect(path.resent).toEqual([{ seq: 100, ts: 0, source: 100 }]);
    // The new layer still has its packet before the switch point (899): the viewer never got it in this numbering.
    history.set(899, packet(899, 47));
    s.continueAt(3000, packet(900, 50).header);
    write(packet(900, 50));
    write(packet(901, 3050));
    // 102 and 103 are the new layer's 900 and 901; 100 and 101 belonged to the old numbering: not ours any more.
    expect(s.resend(103, lookup)).toBe(true);
    expect(path.resent.at(-1)).toEqual({ seq: 103, ts: 9000, source: 901 });
    expect(s.resend(101, lookup)).toBe(false);
    // Ahead of the newest sent, or a packet the layer no longer has.
    expect(s.resend(104, lookup)).toBe(false);
    history.delete(900);
    expect(s.resend(102, lookup)).toBe(false);
    expect(path.resent).toHaveLength(2);
  });

  it("held (transport in trouble): nothing is sent, and nothing is resent", () => {
    const path = new RecordingPath();
    const s = new ViewerStream(path);
    s.write(packet(1, 0), 0n);
    path.held = true;
    s.write(packet(2, 3000), 0n);
    expect(s.resend(1, () => packet(1, 0))).toBe(false);
    path.held = false;
    s.write(packet(3, 6000), 0n);
    expect(path.sent.map((p) => p.seq)).toEqual([1, 3]);
  });

  it("before our path is ready, werift's sendRtp sends, and a switch is werift's replaceRTP", () => {
    const path = new RecordingPath();
    path.fast = false;
    const s = new ViewerStream(path);
    s.write(packet(1, 0), 0n);
    s.continueAt(3000, packet(50, 0).header);
    s.write(packet(50, 0), 0n);
    expect(path.viaWerift).toEqual([1, 50]);
    expect(path.weriftContinues).toEqual([{ seq: 50, step: 3000 }]);
    expect(s.resend(1, () => packet(1, 0))).toBe(false);
    expect(path.sent).toEqual([]);
  });
});

describe("ViewerStream on a real RtpSendPath: the packets on the wire", () => {
  const closers: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  async function wire() {
    // Keys as DTLS would have derived them: werift's session for this side's sending, and the viewer's for receiving.
    const a = { key: randomBytes(16), salt: randomBytes(12) };
    const b = { key: randomBytes(16), salt: randomBytes(12) };
    const ours = new SrtpSession({ profile: PROFILE_AEAD_AES_128_GCM, keys: { localMasterKey: a.key, localMasterSalt: a.salt, remoteMasterKey: b.key, remoteMasterSalt: b.salt } });
    const theirs = new SrtpSession({ profile: PROFILE_AEAD_AES_128_GCM, keys: { localMasterKey: b.key, localMasterSalt: b.salt, remoteMasterKey: a.key, remoteMasterSalt: a.salt } });

    const receiver = dgram.createSocket("udp4");
    await new Promise<void>((r) => receiver.bind(0, "127.0.0.1", () => r()));
    closers.push(() => receiver.close());
    const received: RtpPacket[] = [];
    receiver.on("message", (msg) => received.push(RtpPacket.deSerialize(theirs.decrypt(msg))));

    let mux: UdpMux | undefined;
    const socket = await nodePlatform.openUdpSocket("127.0.0.1", 0, { onData: (d, p, addr) => mux?.receive(d, p, addr), onError: () => undefined });
    mux = new UdpMux(socket);
    closers.push(() => mux?.close());
    const transport = mux.createTransport();

    const rtcp: unknown[][] = [];
    // The werift sender fields the path reads and keeps current (see rtc/weriftInternals.ts).
    const sender = {
      ssrc: 0xabcdef01,
      codec: { payloadType: 100 },
      mid: "1",
      headerExtensions: [{ uri: "urn:ietf:params:rtp-hdrext:sdes:mid", id: 4 }],
      dtlsTransport: { srtp: ours, sendRtcp: async (packets: unknown[]) => void rtcp.push(packets) },
      ntpTimestamp: 0n,
      rtpTimestamp: 0,
      packetCount: 0,
      octetCount: 0,
      retransmittedPacketsSent: 0,
      cname: "viewer",
      rtcpRunning: true,
    };
    // A connected peer's nominated pair, on the mux.
    const pc = { iceTransports: [{ connection: { localUsername: "a", remoteUsername: "b", protocols: [{ transport }], nominated: { protocol: { transport }, remoteAddr: ["127.0.0.1", receiver.address().port] } } }] };
    const reports = new SenderReportScheduler();
    closers.push(() => reports.close());
    const path = new RtpSendPath(sender as unknown as RTCRtpSender, pc as unknown as RTCPeerConnection, reports);
    closers.push(() => path.close());
    return { path, stream: new ViewerStream(path), mux, sender, rtcp, reports, received };
  }

  it("takes over once keys and the pair are there: SSRC, payload type, mid and the renumbering, SRTP werift decrypts", async () => {
    const { path, stream, mux, sender, rtcp, reports, received } = await wire();
    expect(path.fast).toBe(false);
    path.refresh();
    expect(path.fast).toBe(true);
    // werift's own report loop is told to stop; the server's scheduler reports for this stream now.
    expect(sender.rtcpRunning).toBe(false);
    expect(reports.size).toBe(1);

    const payload = (n: number) => Buffer.alloc(200, n);
    stream.write(packet(500, 90_000, payload(1)), 5n);
    stream.write(packet(501, 93_000, payload(2)), 6n);
    stream.continueAt(3000, packet(7, 1).header);
    stream.write(packet(7, 1, payload(3)), 7n);
    mux.flush();
    await vi.waitFor(() => expect(received).toHaveLength(3), { timeout: 2000, interval: 5 });
    expect(received.map((r) => [r.header.sequenceNumber, r.header.timestamp, r.header.ssrc, r.header.payloadType, r.payload[0]])).toEqual([
      [500, 90_000, 0xabcdef01, 100, 1],
      [501, 93_000, 0xabcdef01, 100, 2],
      [502, 96_000, 0xabcdef01, 100, 3],
    ]);
    // The viewer's mid, under the viewer's extension id: never the publisher's extensions.
    expect(received[0]?.header.extensions.map((e) => [e.id, e.payload.toString()])).toEqual([[4, "1"]]);
    expect(sender).toMatchObject({ packetCount: 3, octetCount: 600, rtpTimestamp: 96_000, ntpTimestamp: 7n });

    // A NACK for 501: the same number, time and bytes again, at once.
    expect(stream.resend(501, () => packet(501, 93_000, payload(2)))).toBe(false); // before the switch: another numbering
    expect(stream.resend(502, (source) => (source === 7 ? packet(7, 1, payload(3)) : undefined))).toBe(true);
    await vi.waitFor(() => expect(received).toHaveLength(4), { timeout: 2000, interval: 5 });
    expect([received[3]?.header.sequenceNumber, received[3]?.header.timestamp, received[3]?.payload[0]]).toEqual([502, 96_000, 3]);
    expect(sender.retransmittedPacketsSent).toBe(1);

    // The sender report carries the counters this path kept.
    path.sendReport();
    await vi.waitFor(() => expect(rtcp).toHaveLength(1), { timeout: 1000, interval: 5 });
    const [sr] = rtcp[0] as [{ ssrc: number; senderInfo: { packetCount: number; octetCount: number; rtpTimestamp: number } }];
    expect([sr.ssrc, sr.senderInfo.packetCount, sr.senderInfo.octetCount, sr.senderInfo.rtpTimestamp]).toEqual([0xabcdef01, 3, 600, 96_000]);

    // Paused (transport in trouble): nothing goes out, no report either.
    path.pause(true);
    stream.write(packet(8, 3001), 8n);
    mux.flush();
    path.sendReport();
    await new Promise((r) => setTimeout(r, 50));
    expect(received).toHaveLength(4);
    expect(rtcp).toHaveLength(1);
    path.close();
    expect(reports.size).toBe(0);
  });
});
