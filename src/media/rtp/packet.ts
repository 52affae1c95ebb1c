// The part of an RTP packet the media code reads. werift's RtpPacket matches it structurally, so the hot path hands
// its packets over as they are, and tests build plain objects.

export interface RtpLike {
  readonly header: {
    readonly sequenceNumber: number;
    readonly timestamp: number;
    readonly marker: boolean;
    readonly ssrc: number;
  };
  readonly payload: Uint8Array;
}

/** Signed distance from `from` to `to` on the 16-bit sequence circle, in [-32768, 32767]. */
export function seqDelta(from: number, to: number): number {
  return ((((to - from) & 0xffff) + 0x8000) & 0xffff) - 0x8000;
}

/** Signed distance from `from` to `to` on the 32-bit timestamp circle. */
function tsDelta(from: number, to: number): number {
  return (to - from) | 0;
}

/** Extends 32-bit RTP timestamps into a monotonic-ish number line that survives wrap-around. */
export class TimestampUnwrapper {
  #lastRaw = 0;
  #last = 0;
  #started = false;

  unwrap(raw: number): number {
    if (!this.#started) {
      this.#started = true;
      this.#lastRaw = raw >>> 0;
      this.#last = raw >>> 0;
      return this.#last;
    }
    this.#last += tsDelta(this.#lastRaw, raw);
    this.#lastRaw = raw >>> 0;
    return this.#last;
  }

  /** Where `raw` would land without moving the reference (for RTCP sender reports). */
  project(raw: number): number | undefined {
    return this.#started ? this.#last + tsDelta(this.#lastRaw, raw) : undefined;
  }

  reset(): void {
    this.#started = false;
  }
}
