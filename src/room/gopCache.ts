// The packets of the current group of pictures (from the last keyframe on), so a new viewer gets a picture at
// once even from a publisher that ignores PLI and sends a keyframe only every few seconds (OBS does both).
import type { RtpPacket } from "werift";
import { isKeyframeStart, type KeyframeCodec } from "../media/codec/keyframe.ts";

/** Per video track; a GOP larger than this is not replayed (the viewer waits for PLI or the next keyframe). */
const GOP_CACHE_MAX_BYTES = 3 * 1024 * 1024;

export class GopCache {
  #packets: RtpPacket[] = [];
  #bytes = 0;
  #keyTimestamp = -1;
  #overflowed = false;
  readonly #codec: KeyframeCodec;
  readonly #maxBytes: number;

  constructor(codec: KeyframeCodec, maxBytes = GOP_CACHE_MAX_BYTES) {
    this.#codec = codec;
    this.#maxBytes = maxBytes;
  }

  push(rtp: RtpPacket): void {
    const ts = rtp.header.timestamp;
    // SPS, PPS and IDR of one access unit share a timestamp: only the first of them starts the GOP.
    if (ts !== this.#keyTimestamp && isKeyframeStart(this.#codec, rtp.payload)) {
      this.#packets = [];
      this.#bytes = 0;
      this.#keyTimestamp = ts;
      this.#overflowed = false;
    }
    if (this.#keyTimestamp < 0 || this.#overflowed) return;
    const size = rtp.payload.length + 12;
    if (this.#bytes + size > this.#maxBytes) {
      this.#overflowed = true;
      this.#packets = [];
      this.#bytes = 0;
      return;
    }
    this.#packets.push(rtp);
    this.#bytes += size;
  }

  /** The cached GOP, oldest first; empty until the first keyframe or after an overflow. */
  get packets(): readonly RtpPacket[] {
    return this.#packets;
  }

  get bytes(): number {
    return this.#bytes;
  }

  clear(): void {
    this.#packets = [];
    this.#bytes = 0;
    this.#keyTimestamp = -1;
  }
}
