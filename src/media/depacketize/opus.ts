// Opus RTP payload (RFC 7587): one Opus packet per RTP packet, nothing to strip. The depacketizer only restores
// order and a timeline; gaps are left in the timestamps, where the Ogg writer fills them.
import { ReorderBuffer } from "../rtp/reorder.ts";
import { TimestampUnwrapper, type RtpLike } from "../rtp/packet.ts";

/** Samples per frame at 48 kHz for each TOC configuration (RFC 6716 section 3.1). */
const FRAME_SAMPLES = [
  480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880, // SILK NB, MB, WB: 10, 20, 40, 60 ms
  480, 960, 480, 960, // Hybrid SWB, FB: 10, 20 ms
  120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, // CELT: 2.5, 5, 10, 20 ms
];

/** Duration of an Opus packet in 48 kHz samples, or undefined when its TOC does not hold together. */
export function opusPacketSamples(packet: Uint8Array): number | undefined {
  const toc = packet[0];
  if (toc === undefined) return undefined;
  const perFrame = FRAME_SAMPLES[toc >> 3] as number;
  const code = toc & 0x03;
  let frames: number;
  if (code === 0) frames = 1;
  else if (code === 1 || code === 2) frames = 2;
  else {
    const count = packet[1];
    if (count === undefined) return undefined;
    frames = count & 0x3f;
    if (frames === 0) return undefined;
  }
  const samples = perFrame * frames;
  // RFC 6716: a packet holds at most 120 ms.
  return samples > 5760 ? undefined : samples;
}

export function opusIsStereo(packet: Uint8Array): boolean {
  const toc = packet[0];
  return toc !== undefined && (toc & 0x04) !== 0;
}

export interface AudioPacket {
  payload: Uint8Array;
  /** 48 kHz RTP timestamp, unwrapped, shifted only across a stream restart. */
  timestamp: number;
}

export interface AudioDepacketizerStats {
  packets: number;
  lostPackets: number;
  malformed: number;
}

export class OpusDepacketizer<P extends RtpLike = RtpLike> {
  readonly stats: AudioDepacketizerStats = { packets: 0, lostPackets: 0, malformed: 0 };
  readonly #reorder: ReorderBuffer<P>;
  readonly #unwrap = new TimestampUnwrapper();
  #lastSeq: number | undefined;
  #offset = 0;
  #lastOut: number | undefined;
  #lastSamples = 960;

  constructor(opts: { reorderWindow?: number } = {}) {
    this.#reorder = new ReorderBuffer<P>(opts.reorderWindow ?? 16);
  }

  get reorderStats() {
    return this.#reorder.stats;
  }

  processInput(packet: P): AudioPacket[] {
    return this.#take(this.#reorder.processInput(packet));
  }

  flush(): AudioPacket[] {
    return this.#take(this.#reorder.flush());
  }

  projectTimestamp(raw: number): number | undefined {
    const u = this.#unwrap.project(raw);
    return u === undefined ? undefined : u + this.#offset;
  }

  #take(ordered: ReturnType<ReorderBuffer<P>["flush"]>): AudioPacket[] {
    const out: AudioPacket[] = [];
    for (const { packet, seq, discontinuity } of ordered) {
      if (discontinuity) this.#unwrap.reset();
      else if (this.#lastSeq !== undefined && seq !== this.#lastSeq + 1) this.stats.lostPackets += seq - this.#lastSeq - 1;
      this.#lastSeq = seq;
      let timestamp = this.#unwrap.unwrap(packet.header.timestamp);
      if (discontinuity && this.#lastOut !== undefined) this.#offset = this.#lastOut + this.#lastSamples - timestamp;
      timestamp += this.#offset;
      const payload = packet.payload;
      if (payload.length === 0) continue;
      const samples = opusPacketSamples(payload);
      if (samples === undefined) {
        this.stats.malformed++;
        continue;
      }
      // A packet from before the last one written (a sender clock step back) would overlap it.
      if (this.#lastOut !== undefined && timestamp < this.#lastOut) continue;
      this.#lastOut = timestamp;
      this.#lastSamples = samples;
      this.stats.packets++;
      out.push({ payload, timestamp });
    }
    return out;
  }
}
