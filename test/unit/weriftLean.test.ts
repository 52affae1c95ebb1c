// patches/werift@0.25.2.patch, the parts that make a peer connection hold less for its life: the DTLS client
// drops its handshake state once connected, the local certificate and key are parsed once per process, SRTP
// contexts are made on first use, AES-GCM ciphers share their IV writers, a receiver's tables and handlers come
// on first use, an ICE pair remembers only recent request ids, and STUN transactions live in a Map. Each test
// fails without its part of the patch; the rest checks that behaviour is as before.
import { afterEach, describe, expect, it } from "vitest";
import {
  CandidatePair,
  ProtectionProfileAeadAes128Gcm,
  RTCPeerConnection,
  RTCRtpReceiver,
  RtcpSenderInfo,
  RtcpSrPacket,
  RtpHeader,
  SrtcpSession,
  SrtpSession,
  StunProtocol,
} from "werift";

const key = (fill: number) => Buffer.alloc(16, fill);
const salt = (fill: number) => Buffer.alloc(12, fill);

/** Two ends of one SRTP (or SRTCP) association: a's local keys are b's remote ones. */
function gcmPair<T>(make: (keys: { localMasterKey: Buffer; localMasterSalt: Buffer; remoteMasterKey: Buffer; remoteMasterSalt: Buffer }) => T, seed: number): [T, T] {
  const a = make({ localMasterKey: key(seed), localMasterSalt: salt(seed + 1), remoteMasterKey: key(seed + 2), remoteMasterSalt: salt(seed + 3) });
  const b = make({ localMasterKey: key(seed + 2), localMasterSalt: salt(seed + 3), remoteMasterKey: key(seed), remoteMasterSalt: salt(seed + 1) });
  return [a, b];
}

/** What werift keeps on the objects the tests look into, without declaring it. */
interface DtlsClientInternals {
  connected: boolean;
  flight5: unknown;
  dtls: { handshakeCache: Record<string, unknown>; lastFlight: unknown[]; lastMessage: unknown[]; requestedSignatureAlgorithms: unknown[] };
  cipher: { localKeyPair: unknown; remoteKeyPair: unknown; masterSecret: Buffer | undefined; localPrivateKey: unknown; localCert: Buffer };
  onConnect: { execute(): void; subscribe(fn: () => void): unknown };
  handleHandshakes(assembled: unknown[]): Promise<void>;
}

const open: RTCPeerConnection[] = [];
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((pc) => pc.close()));
});

/** Two werift peers on loopback, connected through ICE and DTLS, with a data channel open. */
async function connectedPair(): Promise<{ offerer: RTCPeerConnection; answerer: RTCPeerConnection }> {
  const offerer = new RTCPeerConnection({ iceAdditionalHostAddresses: ["127.0.0.1"] });
  const answerer = new RTCPeerConnection({ iceAdditionalHostAddresses: ["127.0.0.1"] });
  open.push(offerer, answerer);
  const channel = offerer.createDataChannel("check");
  await offerer.setLocalDescription(await offerer.createOffer());
  await new Promise((r) => setTimeout(r, 200));
  await answerer.setRemoteDescription(offerer.localDescription!);
  await answerer.setLocalDescription(await answerer.createAnswer());
  await new Promise((r) => setTimeout(r, 200));
  await offerer.setRemoteDescription(answerer.localDescription!);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("data channel did not open in 10 s")), 10_000);
    channel.stateChanged.subscribe((state) => {
      if (state === "open") {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return { offerer, answerer };
}

function dtlsClientOf(...pcs: RTCPeerConnection[]): DtlsClientInternals {
  for (const pc of pcs) {
    for (const t of pc.dtlsTransports) {
      const dtls = (t as unknown as { dtls?: DtlsClientInternals & { constructor: { name: string } } }).dtls;
      if (dtls?.constructor.name === "DtlsClient") return dtls;
    }
  }
  throw new Error("no DTLS client among the peers");
}

describe("werift, patched to hold less per peer connection", () => {
  it("the DTLS client drops the handshake's messages and ECDHE keys once connected; SCTP data still flows", async () => {
    const { offerer, answerer } = await connectedPair();
    const client = dtlsClientOf(offerer, answerer);
    expect(client.connected).toBe(true);
    expect(client.dtls.handshakeCache).toEqual({});
    expect(client.dtls.lastFlight).toEqual([]);
    expect(client.dtls.lastMessage).toEqual([]);
    expect(client.dtls.requestedSignatureAlgorithms).toEqual([]);
    expect(client.flight5).toBeUndefined();
    expect(client.cipher.localKeyPair).toBeUndefined();
    expect(client.cipher.remoteKeyPair).toBeUndefined();
    // What exporting SRTP keys needs stays.
    expect(client.cipher.masterSecret?.length).toBe(48);
  }, 20_000);

  it("a handshake record arriving after the connection (a duplicated flight) neither runs flight 5 again nor fires onConnect twice", async () => {
    const { offerer, answerer } = await connectedPair();
    const client = dtlsClientOf(offerer, answerer);
    let connects = 0;
    client.onConnect.subscribe(() => connects++);
    // A stray Finished (20) and ServerHelloDone (14): before the patch the first fired onConnect again and the
    // second re-ran flight 5, which would now throw for want of the dropped key pair.
    await client.handleHandshakes([{ msg_type: 20, fragment: Buffer.alloc(12) }]);
    await client.handleHandshakes([{ msg_type: 14, fragment: Buffer.alloc(0) }]);
    expect(connects).toBe(0);
    expect(client.connected).toBe(true);
  }, 20_000);

  it("every DTLS session of the process shares one parsed certificate and key", async () => {
    const a = await connectedPair();
    const b = await connectedPair();
    const first = dtlsClientOf(a.offerer, a.answerer);
    const second = dtlsClientOf(b.offerer, b.answerer);
    // werift makes one certificate per process unless told otherwise: both sessions sign with it.
    expect(second.cipher.localCert).toBe(first.cipher.localCert);
    expect(second.cipher.localPrivateKey).toBe(first.cipher.localPrivateKey);
  }, 30_000);

  it("AES-GCM SRTP and SRTCP of several sessions, used in turn, still protect what the other side opens", () => {
    // The IV and AAD writers are shared by all ciphers: interleaving sessions must not mix their IVs.
    const sessions = [1, 20, 40].map((seed) => gcmPair((keys) => new SrtpSession({ keys, profile: ProtectionProfileAeadAes128Gcm }), seed));
    const rtcp = [1, 20, 40].map((seed) => gcmPair((keys) => new SrtcpSession({ keys, profile: ProtectionProfileAeadAes128Gcm }), seed));
    const payload = Buffer.from("some media payload, long enough to span a block or two of AES");
    for (let seq = 1; seq <= 4; seq++) {
      const packets = sessions.map(([a], i) => a.encrypt(payload, new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: seq * 90, ssrc: 0x100 + i })));
      const reports = rtcp.map(([a], i) =>
        a.encrypt(new RtcpSrPacket({ ssrc: 0x100 + i, senderInfo: new RtcpSenderInfo({ ntpTimestamp: 1n << 32n, rtpTimestamp: seq, packetCount: seq, octetCount: seq * 10 }) }).serialize()),
      );
      sessions.forEach(([, b], i) => expect(b.decrypt(packets[i] as Buffer).subarray(12).equals(payload)).toBe(true));
      rtcp.forEach(([, b], i) => expect(b.decrypt(reports[i] as Buffer).readUInt32BE(4)).toBe(0x100 + i));
    }
    // Another session's keys do not open it.
    const [[a0], [, b1]] = [sessions[0]!, sessions[1]!];
    const packet = a0.encrypt(payload, new RtpHeader({ payloadType: 96, sequenceNumber: 9, timestamp: 9, ssrc: 0x100 }));
    expect(() => b1.decrypt(packet)).toThrow();
  });

  it("an SRTP session makes each context when first used, from the keys it was started with", () => {
    const [a, b] = gcmPair((keys) => new SrtpSession({ keys, profile: ProtectionProfileAeadAes128Gcm }), 7);
    expect(Object.getOwnPropertyNames(a)).not.toContain("localContext");
    expect(Object.getOwnPropertyNames(a)).not.toContain("remoteContext");
    const packet = a.encrypt(Buffer.from("x".repeat(40)), new RtpHeader({ payloadType: 111, sequenceNumber: 1, timestamp: 1, ssrc: 5 }));
    expect(a.localContext).toBe(a.localContext);
    expect(b.decrypt(packet).length).toBe(12 + 40);
  });

  it("a receiver makes its default track, NACK handler, RED handler and per-SSRC tables only when asked, and still counts NACKs", () => {
    const receiver = new RTCRtpReceiver({} as never, "video", 1234);
    const own = Object.getOwnPropertyNames(receiver);
    for (const lazy of ["defaultTrack", "nack", "audioRedHandler", "rtcpCancel", "nackCountBySsrc", "remoteStreams", "codecs"]) expect(own).not.toContain(lazy);
    expect(receiver.track.kind).toBe("video");
    expect(receiver.track).toBe(receiver.track);
    // werift declares the handler private; the tests reach it the way werift's own code does.
    (receiver as unknown as { nack: { onPacketLost: { execute(nack: unknown): void } } }).nack.onPacketLost.execute({ mediaSourceSsrc: 42 });
    receiver.onPacketLost.execute({ mediaSourceSsrc: 42 } as never);
    expect((receiver as unknown as { nackCountBySsrc: Record<number, number> }).nackCountBySsrc[42]).toBe(2);
    receiver.stop();
  });

  it("an ICE pair remembers the last 64 request ids, enough to tell a retransmission, not one per consent check forever", () => {
    const pair = new CandidatePair({} as never, {} as never, true);
    for (let i = 0; i < 1000; i++) expect(pair.noteIncomingRequest(`id-${i}`)).toBe(false);
    const ids = (pair as unknown as { requestTransactionIds: Set<string> }).requestTransactionIds;
    expect(ids.size).toBe(64);
    expect(pair.noteIncomingRequest("id-999")).toBe(true);
    expect(pair.noteIncomingRequest("id-950")).toBe(true);
    // Long gone: counted as new, which is what a request that old is.
    expect(pair.noteIncomingRequest("id-3")).toBe(false);
  });

  it("STUN transactions are kept in a Map", () => {
    const protocol = new StunProtocol();
    expect(protocol.transactions).toBeInstanceOf(Map);
    expect(protocol.transactionsKeys).toEqual([]);
  });
});
