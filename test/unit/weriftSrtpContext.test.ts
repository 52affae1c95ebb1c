// patches/werift@0.25.2.patch drops the two HMAC objects werift's SRTP Context made in its constructor and never
// read (generateSrtpAuthTag makes its own before use): 8 contexts a peer connection, each HMAC a native OpenSSL
// context of about 600 bytes outside the JS heap. These tests fail if the patch is not applied, and check that
// AES-CM/HMAC-SHA1-80 SRTP and SRTCP still protect and authenticate without them.
import { describe, expect, it } from "vitest";
import { ProtectionProfileAes128CmHmacSha1_80, RtcpSenderInfo, RtcpSrPacket, RtpHeader, SrtcpSession, SrtpSession } from "werift";

const key = (fill: number) => Buffer.alloc(16, fill);
const salt = (fill: number) => Buffer.alloc(14, fill);

function pair<T>(make: (keys: { localMasterKey: Buffer; localMasterSalt: Buffer; remoteMasterKey: Buffer; remoteMasterSalt: Buffer }) => T): [T, T] {
  const a = make({ localMasterKey: key(1), localMasterSalt: salt(2), remoteMasterKey: key(3), remoteMasterSalt: salt(4) });
  const b = make({ localMasterKey: key(3), localMasterSalt: salt(4), remoteMasterKey: key(1), remoteMasterSalt: salt(2) });
  return [a, b];
}

describe("werift SRTP context (patched)", () => {
  it("makes no HMAC object when a context is created", () => {
    const [s] = pair((keys) => new SrtpSession({ keys, profile: ProtectionProfileAes128CmHmacSha1_80 }));
    const ctx = s.localContext as unknown as Record<string, unknown>;
    expect(ctx.srtpSessionAuth).toBeUndefined();
    expect(ctx.srtcpSessionAuth).toBeUndefined();
  });

  it("still protects RTP that the other side decrypts, and rejects a packet with a changed byte", () => {
    const [a, b] = pair((keys) => new SrtpSession({ keys, profile: ProtectionProfileAes128CmHmacSha1_80 }));
    const payload = Buffer.from("a payload of some length, twice over: a payload of some length");
    for (let seq = 1; seq <= 3; seq++) {
      const header = new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: seq * 3000, ssrc: 0x1234 });
      const protectedPacket = a.encrypt(payload, header);
      expect(protectedPacket.length).toBe(12 + payload.length + 10);
      expect(b.decrypt(protectedPacket).subarray(12).equals(payload)).toBe(true);
      // A second context on the same keys: the tag does not depend on state the first one kept.
      const [, fresh] = pair((keys) => new SrtpSession({ keys, profile: ProtectionProfileAes128CmHmacSha1_80 }));
      expect(fresh.decrypt(protectedPacket).subarray(12).equals(payload)).toBe(true);
    }
    const header = new RtpHeader({ payloadType: 96, sequenceNumber: 4, timestamp: 12000, ssrc: 0x1234 });
    const tampered = Buffer.from(a.encrypt(payload, header));
    tampered[20] = (tampered[20] as number) ^ 1;
    expect(() => b.decrypt(tampered)).toThrow();
  });

  it("still protects RTCP that the other side decrypts", () => {
    const [a, b] = pair((keys) => new SrtcpSession({ keys, profile: ProtectionProfileAes128CmHmacSha1_80 }));
    const sr = new RtcpSrPacket({
      ssrc: 0x1234,
      senderInfo: new RtcpSenderInfo({ ntpTimestamp: 1n << 40n, rtpTimestamp: 90_000, packetCount: 10, octetCount: 12_000 }),
    }).serialize();
    const protectedPacket = a.encrypt(sr);
    expect(protectedPacket.length).toBe(sr.length + 4 + 10);
    expect(Buffer.from(b.decrypt(protectedPacket)).equals(sr)).toBe(true);
  });
});
