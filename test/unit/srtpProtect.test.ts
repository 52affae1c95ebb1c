// Our SRTP protect against werift's own decrypt with the same DTLS-derived keys: what werift (and so every
// client werift interoperates with) accepts, byte for byte, across a sequence-number rollover and a resend.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { RtpPacket, SrtpSession } from "werift";
import {
  PROFILE_AEAD_AES_128_GCM,
  PROFILE_AES128_CM_HMAC_SHA1_80,
  SrtpStreamProtector,
  localSrtpKeys,
} from "../../src/rtc/srtpProtect.ts";

function sessions(profile: number) {
  const a = { key: randomBytes(16), salt: randomBytes(profile === PROFILE_AEAD_AES_128_GCM ? 12 : 14) };
  const b = { key: randomBytes(16), salt: randomBytes(a.salt.length) };
  const sender = new SrtpSession({ profile, keys: { localMasterKey: a.key, localMasterSalt: a.salt, remoteMasterKey: b.key, remoteMasterSalt: b.salt } });
  const receiver = new SrtpSession({ profile, keys: { localMasterKey: b.key, localMasterSalt: b.salt, remoteMasterKey: a.key, remoteMasterSalt: a.salt } });
  return { sender, receiver };
}

function rtp(seq: number, ssrc: number, payload: Buffer, headerExtension = false): { buf: Buffer; headerLength: number } {
  const ext = headerExtension ? Buffer.from([0xbe, 0xde, 0x00, 0x01, 0x10, 0x31, 0x00, 0x00]) : Buffer.alloc(0);
  const header = Buffer.alloc(12);
  header[0] = 0x80 | (headerExtension ? 0x10 : 0);
  header[1] = 96;
  header.writeUInt16BE(seq, 2);
  header.writeUInt32BE(seq * 3000, 4);
  header.writeUInt32BE(ssrc, 8);
  const buf = Buffer.alloc(12 + ext.length + payload.length + 16);
  header.copy(buf, 0);
  ext.copy(buf, 12);
  payload.copy(buf, 12 + ext.length);
  return { buf, headerLength: 12 + ext.length };
}

describe.each([
  ["AES_CM_128_HMAC_SHA1_80", PROFILE_AES128_CM_HMAC_SHA1_80],
  ["AEAD_AES_128_GCM", PROFILE_AEAD_AES_128_GCM],
])("SrtpStreamProtector %s", (_name, profile) => {
  it("produces packets werift decrypts, across a rollover, with a header extension, and for a resend", () => {
    const { sender, receiver } = sessions(profile);
    const keys = localSrtpKeys({ srtp: sender });
    expect(keys?.profile).toBe(profile);
    const ssrc = 0x01020304;
    const p = new SrtpStreamProtector(keys!, ssrc);
    const seqs = [65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2, 65534, 3];
    for (const [i, seq] of seqs.entries()) {
      const payload = randomBytes(1 + ((i * 97) % 1200));
      const { buf, headerLength } = rtp(seq, ssrc, payload, i % 2 === 0);
      const length = headerLength + payload.length;
      const plain = Buffer.from(buf.subarray(0, length));
      const n = p.protect(buf, headerLength, payload);
      expect(n).toBe(length + p.tagLength);
      expect(buf.subarray(headerLength, length).equals(payload)).toBe(false); // encrypted
      const dec = receiver.decrypt(buf.subarray(0, n));
      expect(Buffer.from(dec).equals(plain)).toBe(true);
      expect(RtpPacket.deSerialize(dec).header.sequenceNumber).toBe(seq);
    }
  });

  it("is refused by werift when a byte changes in transit (authentication)", () => {
    const { sender, receiver } = sessions(profile);
    const p = new SrtpStreamProtector(localSrtpKeys({ srtp: sender })!, 7);
    const { buf, headerLength } = rtp(1, 7, randomBytes(100));
    const n = p.protect(buf, headerLength, Buffer.from(buf.subarray(headerLength, headerLength + 100)));
    buf[headerLength + 5] = (buf[headerLength + 5] as number) ^ 1;
    expect(() => receiver.decrypt(buf.subarray(0, n))).toThrow();
  });
});

describe("localSrtpKeys", () => {
  it("is undefined before DTLS has made keys, and for anything that is not a DTLS transport", () => {
    expect(localSrtpKeys(undefined)).toBeUndefined();
    expect(localSrtpKeys({})).toBeUndefined();
    expect(localSrtpKeys({ srtp: {} })).toBeUndefined();
  });
});

describe("SrtpStreamProtector through libcrypto (bun:ffi)", () => {
  it("under Bun, makes the same bytes as node:crypto, which werift decrypts, and protects nothing after close", () => {
    // bun:ffi exists only under Bun, so the check runs there; the server always runs under Bun.
    const script = resolve(import.meta.dirname, "../bun/nativeSrtp.check.ts");
    const out = execFileSync("bun", [script], { encoding: "utf8", timeout: 30_000 });
    const r = JSON.parse(out.trim().split("\n").pop() ?? "{}") as Record<string, unknown>;
    // Every machine the tests run on (Debian with ffmpeg and chromium) has libcrypto.so.3.
    expect(r.native).toBe(true);
    for (const profile of ["cm", "gcm"]) {
      expect(r[profile]).toEqual({ packets: 8, equal: 8, decrypted: 8, nativeUsed: true, afterClose: 0 });
    }
  });

  it("under Node, where bun:ffi does not exist, falls back to node:crypto", () => {
    const { sender } = sessions(PROFILE_AEAD_AES_128_GCM);
    expect(new SrtpStreamProtector(localSrtpKeys({ srtp: sender })!, 1).native).toBe(false);
  });
});
