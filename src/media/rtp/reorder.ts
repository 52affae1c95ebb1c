// Puts a small window of late packets back in sequence order before depacketizing. Pure: packets in, packets out.
// Sequence numbers leave unwrapped (monotonic across the 16-bit wrap); a gap in them is loss the consumer acts on.
import { seqDelta, type RtpLike } from "./packet.ts";

export interface Ordered<P extends RtpLike> {
  packet: P;
  /** Unwrapped sequence number; always increases. */
  seq: number;
  /** First packet of a new stream (SSRC change or sender restart): timestamps no longer follow the previous ones. */
  discontinuity: boolean;
}

export interface ReorderStats {
  /** Arrived after the window had moved past them. */
  late: number;
  duplicate: number;
  /** SSRC changes and sequence restarts. */
  resets: number;
}

/** Jumps this far (either way) are a new stream or a long outage, not reordering. */
const FAR = 1000;

export class ReorderBuffer<P extends RtpLike> {
  readonly stats: ReorderStats = { late: 0, duplicate: 0, resets: 0 };
  readonly #window: number;
  readonly #slots: (P | undefined)[];
  readonly #slotSeq: number[];
  #ssrc = -1;
  #started = false;
  /** Next unwrapped sequence number to release. */
  #next = 0;
  #highest = 0;
  #highestRaw = 0;
  #buffered = 0;
  #discontinuity = false;

  constructor(window = 64) {
    if (!Number.isInteger(window) || window < 1) throw new RangeError("window must be a positive integer");
    this.#window = window;
    this.#slots = new Array<P | undefined>(window).fill(undefined);
    this.#slotSeq = new Array<number>(window).fill(-1);
  }

  get buffered(): number {
    return this.#buffered;
  }

  processInput(packet: P): Ordered<P>[] {
    const out: Ordered<P>[] = [];
    const raw = packet.header.sequenceNumber & 0xffff;
    if (!this.#started || packet.header.ssrc !== this.#ssrc) {
      if (this.#started) this.#restart(out);
      this.#started = true;
      this.#ssrc = packet.header.ssrc;
      // Start well above zero so the unwrapped line never goes negative, whatever arrives late.
      const base = out.length > 0 || this.#next > 0 ? this.#next + FAR : 0x10000 + raw;
      this.#next = base;
      this.#highest = base;
      this.#highestRaw = raw;
    }
    let seq = this.#highest + seqDelta(this.#highestRaw, raw);
    if (seq < this.#next) {
      if (this.#next - seq <= FAR) {
        if (this.#next - seq <= this.#window && this.#slotSeq[seq % this.#window] === seq) this.stats.duplicate++;
        else this.stats.late++;
        return out;
      }
      // Far behind: the sender restarted its sequence. Keep the line increasing and show a gap.
      this.#restart(out);
      seq = this.#next + FAR;
      this.#next = seq;
      this.#highest = seq;
      this.#highestRaw = raw;
    } else if (seq - this.#next > FAR) {
      this.#drain(out);
      this.#next = seq;
    }
    if (seq > this.#highest) {
      this.#highest = seq;
      this.#highestRaw = raw;
    }
    while (seq - this.#next >= this.#window) this.#releaseNext(out);
    const slot = seq % this.#window;
    if (this.#slotSeq[slot] === seq) {
      this.stats.duplicate++;
      return out;
    }
    this.#slots[slot] = packet;
    this.#slotSeq[slot] = seq;
    this.#buffered++;
    while (this.#slotSeq[this.#next % this.#window] === this.#next) this.#releaseNext(out);
    return out;
  }

  /** Releases everything still waiting for a missing packet (end of stream). */
  flush(): Ordered<P>[] {
    const out: Ordered<P>[] = [];
    this.#drain(out);
    return out;
  }

  #restart(out: Ordered<P>[]): void {
    this.#drain(out);
    this.stats.resets++;
    this.#discontinuity = true;
  }

  #drain(out: Ordered<P>[]): void {
    while (this.#buffered > 0) this.#releaseNext(out);
  }

  /** Emits the slot for #next if it holds that packet, and moves on either way. */
  #releaseNext(out: Ordered<P>[]): void {
    const seq = this.#next;
    const slot = seq % this.#window;
    const packet = this.#slots[slot];
    if (packet !== undefined && this.#slotSeq[slot] === seq) {
      out.push({ packet, seq, discontinuity: this.#discontinuity });
      this.#discontinuity = false;
      this.#slots[slot] = undefined;
      this.#buffered--;
    }
    this.#next = seq + 1;
  }
}
