// Ogg Opus (RFC 7845, RFC 3533): an OpusHead page, an OpusTags page, then audio pages whose granule positions
// count 48 kHz samples. Pages are closed every few packets, each with its CRC, so a file cut anywhere by a crash
// still plays up to its last whole page. Gaps in the RTP timestamps (loss, DTX) are filled with empty Opus frames,
// which decoders conceal, so the audio timeline keeps its length and stays in sync with the video.
import { opusIsStereo, opusPacketSamples, type AudioPacket } from "../depacketize/opus.ts";
import type { WriteOp } from "./ops.ts";

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    t[i] = r >>> 0;
  }
  return t;
})();

/** Ogg's CRC-32: polynomial 0x04c11db7, initial value 0, no reflection, no final xor. */
export function oggCrc(data: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < data.length; i++) {
    crc = ((crc << 8) ^ (CRC_TABLE[((crc >>> 24) ^ (data[i] as number)) & 0xff] as number)) >>> 0;
  }
  return crc;
}

const FLAG_BOS = 0x02;
const FLAG_EOS = 0x04;

export interface OggPageInput {
  serial: number;
  sequence: number;
  granule: bigint;
  flags: number;
  packets: readonly Uint8Array[];
}

/** One page holding whole packets (the caller keeps it within 255 lacing values). */
export function oggPage(p: OggPageInput): Buffer {
  const lacing: number[] = [];
  let bodySize = 0;
  for (const pkt of p.packets) {
    let left = pkt.length;
    while (left >= 255) {
      lacing.push(255);
      left -= 255;
    }
    lacing.push(left);
    bodySize += pkt.length;
  }
  if (lacing.length > 255) throw new RangeError("too many segments for one Ogg page");
  const page = Buffer.alloc(27 + lacing.length + bodySize);
  page.write("OggS", 0, "ascii");
  page[4] = 0; // version
  page[5] = p.flags;
  page.writeBigInt64LE(p.granule, 6);
  page.writeUInt32LE(p.serial >>> 0, 14);
  page.writeUInt32LE(p.sequence >>> 0, 18);
  page.writeUInt32LE(0, 22);
  page[26] = lacing.length;
  let at = 27;
  for (const l of lacing) page[at++] = l;
  for (const pkt of p.packets) {
    page.set(pkt, at);
    at += pkt.length;
  }
  page.writeUInt32LE(oggCrc(page), 22);
  return page;
}

export function opusHead(channels: number, preSkip: number, inputRate = 48000): Buffer {
  const b = Buffer.alloc(19);
  b.write("OpusHead", 0, "ascii");
  b[8] = 1; // version
  b[9] = channels;
  b.writeUInt16LE(preSkip, 10);
  b.writeUInt32LE(inputRate, 12);
  b.writeInt16LE(0, 16); // output gain
  b[18] = 0; // channel mapping family 0: mono or stereo
  return b;
}

export function opusTags(vendor: string): Buffer {
  const v = Buffer.from(vendor, "utf8");
  const b = Buffer.alloc(8 + 4 + v.length + 4);
  b.write("OpusTags", 0, "ascii");
  b.writeUInt32LE(v.length, 8);
  v.copy(b, 12);
  b.writeUInt32LE(0, 12 + v.length); // no user comments
  return b;
}

export interface OggOpusWriterOptions {
  /** Ogg stream serial number. */
  serial: number;
  /** Channel count for OpusHead; by default 2 when the first packet is coded stereo, else 1. */
  channels?: 1 | 2;
  /** Samples the player drops at the start (RFC 7845 5.1); 312 is libopus's encoder delay at 48 kHz. */
  preSkip?: number;
  /** Close a page after this many packets (20 ms each from browsers), bounding what a crash can lose. */
  packetsPerPage?: number;
  vendor?: string;
  /** Longest gap filled with concealment frames, in samples; longer jumps are a broken clock, not silence. */
  maxGapFill?: number;
}

/**
 * Beyond the time that really passed between two packets (when the caller says when they arrived), a gap is the
 * sender's clock running ahead, not silence: a publisher stepping its timestamps ten minutes a packet made this
 * writer add ten minutes of concealment (3,000 pages, 140 KB, 2-3 ms) for each 20 ms packet.
 */
const ARRIVAL_SLACK_MS = 1000;

/** CELT-only, fullband, one frame, code 0: TOC configurations 31, 30, 29, 28 (20, 10, 5, 2.5 ms). */
const FILLERS: readonly [samples: number, toc: number][] = [
  [960, 31 << 3],
  [480, 30 << 3],
  [240, 29 << 3],
  [120, 28 << 3],
];

export class OggOpusWriter {
  readonly #serial: number;
  readonly #forcedChannels: 1 | 2 | undefined;
  readonly #preSkip: number;
  readonly #perPage: number;
  readonly #vendor: string;
  readonly #maxGap: number;
  #channels = 0;
  #sequence = 0;
  /** Samples in every packet so far, pre-skip included: the granule position after the last packet. */
  #granule = 0;
  #firstTimestamp: number | undefined;
  #page: Uint8Array[] = [];
  #pageSegments = 0;
  #packets = 0;
  #filled = 0;
  #bytes = 0;
  #finished = false;
  #lastArrivalMs: number | undefined;

  constructor(opts: OggOpusWriterOptions) {
    this.#serial = opts.serial >>> 0;
    this.#forcedChannels = opts.channels;
    this.#preSkip = opts.preSkip ?? 312;
    this.#perPage = opts.packetsPerPage ?? 10;
    this.#vendor = opts.vendor ?? "roomcast";
    this.#maxGap = opts.maxGapFill ?? 48000 * 600;
  }

  get packets(): number {
    return this.#packets;
  }

  /** Concealment frames written into gaps. */
  get filled(): number {
    return this.#filled;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get channels(): number {
    return this.#channels;
  }

  /** Playable length so far in 48 kHz samples. */
  get durationSamples(): number {
    return Math.max(0, this.#granule - this.#preSkip);
  }

  /** `arrivalMs`, when given, bounds the concealment to the time that really passed since the previous packet. */
  processInput(packet: AudioPacket, arrivalMs?: number): WriteOp[] {
    if (this.#finished) return [];
    const samples = opusPacketSamples(packet.payload);
    if (samples === undefined) return [];
    const pages: Buffer[] = [];
    if (this.#firstTimestamp === undefined) {
      this.#firstTimestamp = packet.timestamp;
      this.#channels = this.#forcedChannels ?? (opusIsStereo(packet.payload) ? 2 : 1);
      pages.push(this.#emit([opusHead(this.#channels, this.#preSkip)], 0n, FLAG_BOS));
      pages.push(this.#emit([opusTags(this.#vendor)], 0n, 0));
    }
    let gap = packet.timestamp - this.#firstTimestamp - this.#granule;
    const previousArrival = this.#lastArrivalMs;
    if (arrivalMs !== undefined) this.#lastArrivalMs = arrivalMs;
    if (gap >= 120 && gap <= this.#maxGap && previousArrival !== undefined && arrivalMs !== undefined) {
      const real = Math.max(0, arrivalMs - previousArrival + ARRIVAL_SLACK_MS) * 48;
      if (gap > real) {
        // Only what really passed is silence; the rest of the jump moves the clock's origin.
        this.#firstTimestamp += gap - Math.floor(real);
        gap = Math.floor(real);
      }
    }
    if (gap >= 120 && gap <= this.#maxGap) {
      const stereo = this.#channels === 2 ? 0x04 : 0;
      for (const [size, toc] of FILLERS) {
        const filler = Uint8Array.of(toc | stereo);
        while (gap >= size) {
          this.#add(filler, size, pages);
          this.#filled++;
          gap -= size;
        }
      }
    } else if (gap > this.#maxGap) {
      // Treat a jump this long as a new clock origin rather than minutes of silence.
      this.#firstTimestamp = packet.timestamp - this.#granule;
    }
    this.#add(packet.payload, samples, pages);
    this.#packets++;
    return pages.map((data) => ({ type: "append", data }));
  }

  /** Ends the stream: the last page gets the end-of-stream flag (an empty one if nothing is pending). */
  finish(): WriteOp[] {
    if (this.#finished || this.#firstTimestamp === undefined) return [];
    this.#finished = true;
    const page = this.#emit(this.#page, BigInt(this.#granule), FLAG_EOS);
    this.#page = [];
    this.#pageSegments = 0;
    return [{ type: "append", data: page }];
  }

  #add(payload: Uint8Array, samples: number, pages: Buffer[]): void {
    const segments = Math.floor(payload.length / 255) + 1;
    if (this.#pageSegments + segments > 255) this.#flush(pages);
    this.#page.push(payload);
    this.#pageSegments += segments;
    this.#granule += samples;
    if (this.#page.length >= this.#perPage) this.#flush(pages);
  }

  #flush(pages: Buffer[]): void {
    if (this.#page.length === 0) return;
    pages.push(this.#emit(this.#page, BigInt(this.#granule), 0));
    this.#page = [];
    this.#pageSegments = 0;
  }

  #emit(packets: readonly Uint8Array[], granule: bigint, flags: number): Buffer {
    const page = oggPage({ serial: this.#serial, sequence: this.#sequence++, granule, flags, packets });
    this.#bytes += page.length;
    return page;
  }
}
