// Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01), sent to
// publishers so their send-side bandwidth estimate can grow. werift's own generator leaves its packets unpadded
// (the length field then cuts off the last deltas and Chromium drops most of them), takes each reference time from
// the previous batch (up to 64 ms of error) and reports missing packets as received: Chromium's estimate fell from
// 300 to ~120 kbps and simulcast never rose above the lowest layer. So the server writes this feedback itself.

export const TWCC_URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";

const STATUS_NOT_RECEIVED = 0;
const STATUS_SMALL = 1;
const STATUS_LARGE = 2;
/** Received packets kept between two feedback packets; beyond it the oldest are reported as they are. */
const MAX_PENDING = 4096;

/** Builds TWCC feedback from (transport sequence number, arrival time) pairs. Pure: no I/O, no timers. */
export class TwccRecorder {
  readonly #senderSsrc: number;
  #mediaSsrc = 0;
  /** Arrival times (µs) by extended (unwrapped) sequence number, for packets not yet reported. */
  #arrivals = new Map<number, number>();
  #nextToReport = -1;
  #highest = -1;
  #lastExtended = -1;
  #fbCount = 0;

  constructor(senderSsrc: number) {
    this.#senderSsrc = senderSsrc;
  }

  /** Records one packet; `seq` is the 16-bit transport-wide sequence number from the header extension. */
  onPacket(seq: number, arrivalUs: number, mediaSsrc: number): void {
    this.#mediaSsrc = mediaSsrc;
    const ext = this.#unwrap(seq & 0xffff);
    if (this.#nextToReport < 0) this.#nextToReport = ext;
    if (ext < this.#nextToReport) return; // already reported as lost; too late to matter
    if (this.#arrivals.size >= MAX_PENDING) return;
    if (!this.#arrivals.has(ext)) this.#arrivals.set(ext, arrivalUs);
    if (ext > this.#highest) this.#highest = ext;
  }

  #unwrap(seq: number): number {
    if (this.#lastExtended < 0) {
      this.#lastExtended = seq;
      return seq;
    }
    const last = this.#lastExtended;
    let delta = seq - (last & 0xffff);
    if (delta > 0x8000) delta -= 0x10000;
    else if (delta < -0x8000) delta += 0x10000;
    const ext = last + delta;
    if (ext > last) this.#lastExtended = ext;
    return ext;
  }

  /** One RTCP feedback packet covering everything since the last one, or undefined when nothing arrived. */
  buildFeedback(): Buffer | undefined {
    if (this.#nextToReport < 0 || this.#highest < this.#nextToReport || this.#arrivals.size === 0) return undefined;
    const base = this.#nextToReport;
    const count = Math.min(this.#highest - base + 1, 0xffff);
    const first = this.#firstArrival(base, count);
    if (first === undefined) return undefined;
    const referenceTime = Math.floor(first / 64_000);
    let previous = referenceTime * 64_000;
    const statuses: number[] = [];
    const deltas: number[] = [];
    for (let i = 0; i < count; i++) {
      const at = this.#arrivals.get(base + i);
      if (at === undefined) {
        statuses.push(STATUS_NOT_RECEIVED);
        continue;
      }
      let delta = Math.round((at - previous) / 250);
      if (delta < -32768) delta = -32768;
      if (delta > 32767) delta = 32767;
      previous += delta * 250;
      statuses.push(delta >= 0 && delta <= 255 ? STATUS_SMALL : STATUS_LARGE);
      deltas.push(delta);
    }
    for (let i = 0; i < count; i++) this.#arrivals.delete(base + i);
    this.#nextToReport = base + count;

    const chunks: number[] = [];
    for (let i = 0; i < statuses.length; ) {
      const status = statuses[i] as number;
      let run = 1;
      while (i + run < statuses.length && statuses[i + run] === status && run < 0x1fff) run++;
      chunks.push((status << 13) | run);
      i += run;
    }
    const deltaBytes = deltas.reduce((n, d) => n + (d >= 0 && d <= 255 ? 1 : 2), 0);
    const bodyLen = 20 + chunks.length * 2 + deltaBytes;
    const padded = Math.ceil(bodyLen / 4) * 4;
    const buf = Buffer.alloc(padded);
    const padding = padded - bodyLen;
    buf[0] = 0x80 | (padding > 0 ? 0x20 : 0) | 15;
    buf[1] = 205;
    buf.writeUInt16BE(padded / 4 - 1, 2);
    buf.writeUInt32BE(this.#senderSsrc >>> 0, 4);
    buf.writeUInt32BE(this.#mediaSsrc >>> 0, 8);
    buf.writeUInt16BE(base & 0xffff, 12);
    buf.writeUInt16BE(count, 14);
    buf.writeUIntBE(referenceTime & 0xffffff, 16, 3);
    buf[19] = this.#fbCount++ & 0xff;
    let o = 20;
    for (const c of chunks) {
      buf.writeUInt16BE(c, o);
      o += 2;
    }
    for (const d of deltas) {
      if (d >= 0 && d <= 255) buf[o++] = d;
      else {
        buf.writeInt16BE(d, o);
        o += 2;
      }
    }
    if (padding > 0) buf[padded - 1] = padding;
    return buf;
  }

  #firstArrival(base: number, count: number): number | undefined {
    for (let i = 0; i < count; i++) {
      const at = this.#arrivals.get(base + i);
      if (at !== undefined) return at;
    }
    return undefined;
  }
}
