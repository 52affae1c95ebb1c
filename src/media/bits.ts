// Bit-level reading for the few codec headers the recorder looks into (VP9 and AV1 frame sizes, key frames).

export class BitReader {
  readonly #data: Uint8Array;
  #pos = 0;

  constructor(data: Uint8Array, byteOffset = 0) {
    this.#data = data;
    this.#pos = byteOffset * 8;
  }

  get bitsLeft(): number {
    return this.#data.length * 8 - this.#pos;
  }

  /** Reads `n` ≤ 32 bits, most significant first. Throws RangeError past the end, which callers treat as malformed. */
  bits(n: number): number {
    if (n > this.bitsLeft) throw new RangeError("read past end of header");
    let v = 0;
    for (let i = 0; i < n; i++) {
      const byte = this.#data[this.#pos >> 3] as number;
      v = v * 2 + ((byte >> (7 - (this.#pos & 7))) & 1);
      this.#pos++;
    }
    return v;
  }

  flag(): boolean {
    return this.bits(1) === 1;
  }

  /** AV1 uvlc(). */
  uvlc(): number {
    let zeros = 0;
    while (!this.flag()) {
      zeros++;
      if (zeros >= 32) return 2 ** 32 - 1;
    }
    return this.bits(zeros) + 2 ** zeros - 1;
  }
}

/** LEB128 as AV1 uses it: returns the value and how many bytes it took, or undefined when it runs off the end. */
export function readLeb128(data: Uint8Array, offset: number): { value: number; length: number } | undefined {
  let value = 0;
  for (let i = 0; i < 8; i++) {
    const byte = data[offset + i];
    if (byte === undefined) return undefined;
    value += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) return { value, length: i + 1 };
  }
  return undefined;
}

export function leb128(value: number): Uint8Array {
  const out: number[] = [];
  let v = value;
  do {
    let byte = v % 128;
    v = Math.floor(v / 128);
    if (v > 0) byte |= 0x80;
    out.push(byte);
  } while (v > 0);
  return Uint8Array.from(out);
}

/** Joins byte arrays into one Buffer (Buffer.concat without the Buffer-only input type). */
export function concatBytes(parts: readonly Uint8Array[], total?: number): Buffer {
  let size = total ?? 0;
  if (total === undefined) for (const p of parts) size += p.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
