// AES-128-GCM, AES-128-CTR and HMAC-SHA1 from the machine's OpenSSL (libcrypto), called through bun:ffi, for
// SRTP on the forwarding path. The key schedule stays in one context per stream and each packet is encrypted in
// place: nothing is allocated per packet. node:crypto builds a cipher object, an output buffer and (for AES-CM)
// an HMAC object for every packet, which costs about twice the CPU and makes the garbage that has the collector
// pause the event loop every few hundred milliseconds at 30k packets/s.
//
// Without libcrypto (or under Node, in tests) nativeCrypto() is undefined and srtpProtect uses node:crypto.
import { platform } from "../platform/index.ts";
import type { NativeLibrary } from "../platform/ports.ts";

const FUNCTIONS = {
  EVP_CIPHER_CTX_new: { args: [], returns: "ptr" },
  EVP_CIPHER_CTX_free: { args: ["ptr"], returns: "void" },
  EVP_CIPHER_CTX_ctrl: { args: ["ptr", "i32", "i32", "ptr"], returns: "i32" },
  EVP_aes_128_gcm: { args: [], returns: "ptr" },
  EVP_aes_128_ctr: { args: [], returns: "ptr" },
  EVP_sha1: { args: [], returns: "ptr" },
  EVP_EncryptInit_ex: { args: ["ptr", "ptr", "ptr", "ptr", "ptr"], returns: "i32" },
  EVP_EncryptUpdate: { args: ["ptr", "ptr", "ptr", "ptr", "i32"], returns: "i32" },
  EVP_EncryptFinal_ex: { args: ["ptr", "ptr", "ptr"], returns: "i32" },
  HMAC_CTX_new: { args: [], returns: "ptr" },
  HMAC_CTX_free: { args: ["ptr"], returns: "void" },
  HMAC_Init_ex: { args: ["ptr", "ptr", "i32", "ptr", "ptr"], returns: "i32" },
  HMAC_Update: { args: ["ptr", "ptr", "u64_fast"], returns: "i32" },
  HMAC_Final: { args: ["ptr", "ptr", "ptr"], returns: "i32" },
} as const;
type Fn = keyof typeof FUNCTIONS;

const LIBRARIES = ["libcrypto.so.3", "libcrypto.so", "libcrypto.so.1.1", "libcrypto.3.dylib", "libcrypto.dylib"];
const EVP_CTRL_GCM_GET_TAG = 0x10;
const IV_AT = 0;
const OUT_LENGTH_AT = 16;
const DIGEST_AT = 32;

/** One stream's cipher (and, for AES-CM, HMAC) context; free it once, when the stream ends. */
export interface NativeCipher {
  cipher: number;
  hmac: number;
}

export class NativeCrypto {
  /** The IV of the next operation: write it here first. Shared, which is safe because every call is synchronous. */
  readonly iv: Buffer;
  readonly #lib: NativeLibrary<Fn>;
  readonly #scratch: Buffer;
  readonly #scratchAt: number;
  readonly #gcm: number;
  readonly #ctr: number;
  readonly #sha1: number;
  /** Frees the contexts of streams dropped without close(), so a missed close costs memory only until a GC. */
  readonly #orphans = new FinalizationRegistry<NativeCipher>((c) => this.#release(c));

  constructor(lib: NativeLibrary<Fn>) {
    this.#lib = lib;
    // Larger than the engine keeps inside its own heap, so its address never moves.
    this.#scratch = Buffer.alloc(4096);
    this.#scratchAt = lib.pointer(this.#scratch);
    this.iv = this.#scratch.subarray(IV_AT, IV_AT + 16);
    const s = lib.symbols;
    this.#gcm = s.EVP_aes_128_gcm();
    this.#ctr = s.EVP_aes_128_ctr();
    this.#sha1 = s.EVP_sha1();
    if (!this.#gcm || !this.#ctr || !this.#sha1) throw new Error("libcrypto has no AES-128-GCM, AES-128-CTR or SHA-1");
  }

  /** Keys a context once: AES-128-GCM, or AES-128-CTR with an HMAC-SHA1 key. `owner` frees it if it is dropped. */
  open(owner: object, gcm: boolean, key: Uint8Array, authKey: Uint8Array | undefined): NativeCipher {
    const s = this.#lib.symbols;
    const cipher = s.EVP_CIPHER_CTX_new();
    if (!cipher) throw new Error("EVP_CIPHER_CTX_new failed");
    const ctx: NativeCipher = { cipher, hmac: 0 };
    if (s.EVP_EncryptInit_ex(cipher, gcm ? this.#gcm : this.#ctr, null, key, null) !== 1) {
      this.#release(ctx);
      throw new Error("EVP_EncryptInit_ex failed");
    }
    if (!gcm) {
      ctx.hmac = s.HMAC_CTX_new();
      if (!ctx.hmac || !authKey || s.HMAC_Init_ex(ctx.hmac, authKey, authKey.length, this.#sha1, null) !== 1) {
        this.#release(ctx);
        throw new Error("HMAC_Init_ex failed");
      }
    }
    this.#orphans.register(owner, ctx, ctx);
    return ctx;
  }

  close(ctx: NativeCipher): void {
    this.#orphans.unregister(ctx);
    this.#release(ctx);
  }

  #release(ctx: NativeCipher): void {
    const s = this.#lib.symbols;
    if (ctx.cipher) s.EVP_CIPHER_CTX_free(ctx.cipher);
    if (ctx.hmac) s.HMAC_CTX_free(ctx.hmac);
    ctx.cipher = 0;
    ctx.hmac = 0;
  }

  /**
   * AEAD-AES-128-GCM with this.iv (12 bytes): packet[0, aadLength) is authenticated, the `length` bytes after it
   * encrypted in place, and the 16-byte tag written after them.
   */
  gcmSeal(ctx: NativeCipher, packet: Uint8Array, aadLength: number, length: number): boolean {
    const s = this.#lib.symbols;
    const c = ctx.cipher;
    if (!c) return false;
    const at = this.#lib.pointer(packet);
    const outLength = this.#scratchAt + OUT_LENGTH_AT;
    const body = at + aadLength;
    return (
      s.EVP_EncryptInit_ex(c, null, null, null, this.#scratchAt + IV_AT) === 1 &&
      s.EVP_EncryptUpdate(c, null, outLength, at, aadLength) === 1 &&
      s.EVP_EncryptUpdate(c, body, outLength, body, length) === 1 &&
      s.EVP_EncryptFinal_ex(c, body + length, outLength) === 1 &&
      s.EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, body + length) === 1
    );
  }

  /** AES-128-CTR with this.iv (16 bytes) over packet[offset, offset + length), in place. */
  ctrEncrypt(ctx: NativeCipher, packet: Uint8Array, offset: number, length: number): boolean {
    const s = this.#lib.symbols;
    const c = ctx.cipher;
    if (!c) return false;
    const body = this.#lib.pointer(packet) + offset;
    return s.EVP_EncryptInit_ex(c, null, null, null, this.#scratchAt + IV_AT) === 1 && s.EVP_EncryptUpdate(c, body, this.#scratchAt + OUT_LENGTH_AT, body, length) === 1;
  }

  /** HMAC-SHA1 of packet[0, length), its first tagLength bytes written at packet[tagAt]. */
  hmacSha1(ctx: NativeCipher, packet: Uint8Array, length: number, tagAt: number, tagLength: number): boolean {
    const s = this.#lib.symbols;
    const h = ctx.hmac;
    if (!h) return false;
    const ok =
      s.HMAC_Init_ex(h, null, 0, null, null) === 1 &&
      s.HMAC_Update(h, this.#lib.pointer(packet), length) === 1 &&
      s.HMAC_Final(h, this.#scratchAt + DIGEST_AT, this.#scratchAt + OUT_LENGTH_AT) === 1;
    if (ok) {
      const digest = this.#scratch;
      for (let i = 0; i < tagLength; i++) packet[tagAt + i] = digest[DIGEST_AT + i] as number;
    }
    return ok;
  }
}

let loaded: NativeCrypto | null | undefined;

/** The machine's libcrypto, loaded on first use; undefined when there is none (or under Node). */
export function nativeCrypto(): NativeCrypto | undefined {
  if (loaded === undefined) {
    loaded = null;
    const lib = platform.loadNativeLibrary(LIBRARIES, FUNCTIONS);
    if (lib) {
      try {
        loaded = new NativeCrypto(lib);
      } catch {
        lib.close();
      }
    }
  }
  return loaded ?? undefined;
}
