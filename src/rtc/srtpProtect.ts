// SRTP protect for one outgoing RTP stream (RFC 3711 AES-128-CM + HMAC-SHA1-80, RFC 7714 AEAD-AES-128-GCM),
// with the session keys werift derived from the DTLS handshake. werift's own encrypt serializes the header
// again, concatenates three buffers and keeps a rollover state object per SSRC; this one writes each packet once
// into one buffer, with the IV built in a buffer it keeps. With the machine's libcrypto (nativeCrypto.ts) it
// encrypts in place with a key schedule kept per stream; without it, with node:crypto.
import { createCipheriv, createHmac } from "node:crypto";
import { nativeCrypto, type NativeCipher, type NativeCrypto } from "./nativeCrypto.ts";
import { localSrtpContext } from "./weriftInternals.ts";

export const PROFILE_AES128_CM_HMAC_SHA1_80 = 0x0001;
export const PROFILE_AEAD_AES_128_GCM = 0x0007;

export interface SrtpSessionKeys {
  /** The DTLS-SRTP protection profile number (RFC 5764 / RFC 7714). */
  profile: number;
  sessionKey: Buffer;
  /** 14 bytes for AES-CM, 12 for GCM. */
  sessionSalt: Buffer;
  /** HMAC-SHA1 key (AES-CM only). */
  authKey: Buffer | undefined;
}

/** The keys werift's DTLS transport derived for what this side sends, once DTLS is connected. */
export function localSrtpKeys(dtlsTransport: unknown): SrtpSessionKeys | undefined {
  // werift keeps its SRTP session on the DTLS transport without declaring it.
  const ctx = localSrtpContext(dtlsTransport);
  if (!ctx?.srtpSessionKey || !ctx.srtpSessionSalt) return undefined;
  if (ctx.profile !== PROFILE_AES128_CM_HMAC_SHA1_80 && ctx.profile !== PROFILE_AEAD_AES_128_GCM) return undefined;
  return { profile: ctx.profile, sessionKey: ctx.srtpSessionKey, sessionSalt: ctx.srtpSessionSalt, authKey: ctx.srtpSessionAuthTag };
}

/** A plain view: cheaper than Buffer.subarray under Bun, which also sets up a Buffer prototype. */
function view(buf: Buffer, start: number, end: number): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset + start, end - start);
}

export class SrtpStreamProtector {
  readonly tagLength: number;
  readonly #gcm: boolean;
  readonly #key: Buffer;
  readonly #salt: Buffer;
  readonly #authKey: Buffer;
  readonly #iv: Buffer;
  readonly #ssrc: number;
  readonly #native: NativeCrypto | undefined;
  readonly #cipher: NativeCipher | undefined;
  /** The extended sequence number (ROC << 16 | seq) of the newest packet protected, -1 before the first. */
  #highest = -1;
  #closed = false;

  /** `native` undefined uses node:crypto even where libcrypto loads (the tests compare the two). */
  constructor(keys: SrtpSessionKeys, ssrc: number, native: NativeCrypto | undefined = nativeCrypto()) {
    this.#gcm = keys.profile === PROFILE_AEAD_AES_128_GCM;
    this.tagLength = this.#gcm ? 16 : 10;
    this.#key = keys.sessionKey;
    this.#salt = keys.sessionSalt;
    this.#authKey = keys.authKey ?? Buffer.alloc(20);
    this.#ssrc = ssrc >>> 0;
    this.#native = native;
    this.#cipher = native?.open(this, this.#gcm, this.#key, this.#authKey);
    // The native path builds its IV in libcrypto's scratch buffer; node:crypto takes it from this one.
    this.#iv = native ? native.iv : Buffer.alloc(this.#gcm ? 12 : 16);
  }

  /** Whether packets are encrypted by libcrypto in place (else by node:crypto). */
  get native(): boolean {
    return this.#native !== undefined;
  }

  /** Frees the native context; protect() returns 0 after. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#native && this.#cipher) this.#native.close(this.#cipher);
  }

  /** The rollover counter for seq (RFC 3711 §3.3.1), guessed against the newest packet so resends keep theirs. */
  #rolloverFor(seq: number): number {
    const highest = this.#highest;
    if (highest < 0) {
      this.#highest = seq;
      return 0;
    }
    const roc = Math.floor(highest / 65536);
    const last = highest & 0xffff;
    let guess = roc;
    if (seq - last > 32768) guess = roc - 1;
    else if (last - seq > 32768) guess = roc + 1;
    if (guess < 0) guess = 0;
    const index = guess * 65536 + seq;
    if (index > highest) this.#highest = index;
    return guess >>> 0;
  }

  /**
   * Protects one RTP packet: its header is already in packet[0, headerLength); the payload (with any padding) is
   * encrypted from `plain` into packet after the header, and the tag follows. packet must have room for
   * headerLength + plain.length + tagLength bytes. Returns the protected length, 0 when it could not protect.
   */
  protect(packet: Buffer, headerLength: number, plain: Uint8Array): number {
    if (this.#closed) return 0;
    const length = headerLength + plain.length;
    const seq = ((packet[2] as number) << 8) | (packet[3] as number);
    const roc = this.#rolloverFor(seq);
    const iv = this.#iv;
    const salt = this.#salt;
    iv.fill(0);
    if (this.#gcm) {
      // RFC 7714 §8.1: 00 00 | SSRC | ROC | SEQ, XOR the 12-byte salt.
      iv.writeUInt32BE(this.#ssrc, 2);
      iv.writeUInt32BE(roc, 6);
      iv.writeUInt16BE(seq, 10);
      for (let i = 0; i < 12; i++) iv[i] = (iv[i] as number) ^ (salt[i] as number);
      const native = this.#native;
      if (native) {
        packet.set(plain, headerLength);
        return native.gcmSeal(this.#cipher as NativeCipher, packet, headerLength, plain.length) ? length + 16 : 0;
      }
      const cipher = createCipheriv("aes-128-gcm", this.#key, iv);
      cipher.setAAD(view(packet, 0, headerLength));
      cipher.update(plain).copy(packet, headerLength);
      cipher.final();
      cipher.getAuthTag().copy(packet, length);
      return length + 16;
    }
    // RFC 3711 §4.1.1: (SSRC << 64 | index << 16) XOR salt << 16.
    iv.writeUInt32BE(this.#ssrc, 4);
    iv.writeUInt32BE(roc, 8);
    iv.writeUInt16BE(seq, 12);
    for (let i = 0; i < 14; i++) iv[i] = (iv[i] as number) ^ (salt[i] as number);
    const native = this.#native;
    if (native) {
      const cipher = this.#cipher as NativeCipher;
      packet.set(plain, headerLength);
      if (!native.ctrEncrypt(cipher, packet, headerLength, plain.length)) return 0;
      packet.writeUInt32BE(roc, length);
      return native.hmacSha1(cipher, packet, length + 4, length, 10) ? length + 10 : 0;
    }
    createCipheriv("aes-128-ctr", this.#key, iv).update(plain).copy(packet, headerLength);
    // The tag covers header, encrypted payload and the ROC (§4.2); the ROC sits where the tag goes, then is overwritten.
    packet.writeUInt32BE(roc, length);
    const tag = createHmac("sha1", this.#authKey).update(view(packet, 0, length + 4)).digest();
    tag.copy(packet, length, 0, 10);
    return length + 10;
  }
}
