// Run by test/unit/srtpProtect.test.ts under Bun (vitest runs on Node, where bun:ffi does not exist): SRTP
// protected by the machine's libcrypto must be byte for byte what node:crypto makes, and what werift decrypts,
// across a rollover, with padding-sized and header-extended packets, and must stop after close(). Prints one
// JSON line of results; the test reads it.
import { randomBytes } from "node:crypto";
import { SrtpSession } from "werift";
import { nativeCrypto } from "../../src/rtc/nativeCrypto.ts";
import { PROFILE_AEAD_AES_128_GCM, PROFILE_AES128_CM_HMAC_SHA1_80, SrtpStreamProtector, localSrtpKeys } from "../../src/rtc/srtpProtect.ts";

const native = nativeCrypto();
const results: Record<string, unknown> = { native: native !== undefined };

for (const [name, profile] of [["cm", PROFILE_AES128_CM_HMAC_SHA1_80], ["gcm", PROFILE_AEAD_AES_128_GCM]] as const) {
  const saltLength = profile === PROFILE_AEAD_AES_128_GCM ? 12 : 14;
  const a = { key: randomBytes(16), salt: randomBytes(saltLength) };
  const b = { key: randomBytes(16), salt: randomBytes(saltLength) };
  const sender = new SrtpSession({ profile, keys: { localMasterKey: a.key, localMasterSalt: a.salt, remoteMasterKey: b.key, remoteMasterSalt: b.salt } });
  const receiver = new SrtpSession({ profile, keys: { localMasterKey: b.key, localMasterSalt: b.salt, remoteMasterKey: a.key, remoteMasterSalt: a.salt } });
  const keys = localSrtpKeys({ srtp: sender });
  if (!keys) throw new Error("no keys");
  const ssrc = 0xdeadbeef;
  const viaLib = new SrtpStreamProtector(keys, ssrc);
  const viaNode = new SrtpStreamProtector(keys, ssrc, undefined);
  let equal = 0;
  let decrypted = 0;
  const seqs = [65533, 65534, 65535, 0, 1, 65535, 2, 3];
  for (const [i, seq] of seqs.entries()) {
    const headerLength = i % 2 === 0 ? 12 : 20;
    const payload = randomBytes([1, 100, 1200, 1400, 17, 999, 1188, 64][i] as number);
    const make = () => {
      // A slot-sized buffer, as the mux hands out, with the header written.
      const buf = Buffer.alloc(2048);
      buf[0] = 0x80 | (headerLength > 12 ? 0x10 : 0);
      buf[1] = 96;
      buf.writeUInt16BE(seq, 2);
      buf.writeUInt32BE(seq * 90, 4);
      buf.writeUInt32BE(ssrc, 8);
      if (headerLength > 12) Buffer.from([0xbe, 0xde, 0x00, 0x01, 0x10, 0x31, 0x00, 0x00]).copy(buf, 12);
      return buf;
    };
    const x = make();
    const y = make();
    const plain = Buffer.concat([x.subarray(0, headerLength), payload]);
    const nx = viaLib.protect(x, headerLength, payload);
    const ny = viaNode.protect(y, headerLength, payload);
    if (nx === ny && x.subarray(0, nx).equals(y.subarray(0, ny))) equal++;
    if (Buffer.from(receiver.decrypt(x.subarray(0, nx))).equals(plain)) decrypted++;
  }
  viaLib.close();
  viaLib.close();
  const after = viaLib.protect(Buffer.alloc(2048), 12, randomBytes(10));
  results[name] = { packets: seqs.length, equal, decrypted, nativeUsed: viaLib.native, afterClose: after };
}
console.log(JSON.stringify(results));
