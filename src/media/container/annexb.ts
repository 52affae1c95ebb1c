// H264/H265 Annex-B elementary stream: access units back to back, each already starting with a start code. The format
// has no timestamps, so the writer also keeps an index (offset, size, RTP time) for the mkv remux.
import type { WriteOp } from "./ops.ts";

export interface AnnexBFrame {
  data: Uint8Array;
  timestamp: number;
}

/** Frame positions and times in growable typed arrays: about 16 bytes per frame, no object per frame. */
export class FrameIndex {
  #offsets = new Float64Array(1024);
  #sizes = new Uint32Array(1024);
  #times = new Float64Array(1024);
  #length = 0;
  /** Set once the index stopped growing at its limit; the recording goes on, only the remux is skipped. */
  overflowed = false;
  readonly #limit: number;

  /** The default limit, 4M frames, is 37 hours at 30 fps and 64 MB of index. */
  constructor(limit = 4 * 1024 * 1024) {
    this.#limit = limit;
  }

  get length(): number {
    return this.#length;
  }

  push(offset: number, size: number, timestamp: number): void {
    if (this.#length >= this.#limit) {
      this.overflowed = true;
      return;
    }
    if (this.#length === this.#sizes.length) {
      const grow = <T extends Float64Array | Uint32Array>(a: T, make: (n: number) => T): T => {
        const b = make(a.length * 2);
        b.set(a);
        return b;
      };
      this.#offsets = grow(this.#offsets, (n) => new Float64Array(n));
      this.#sizes = grow(this.#sizes, (n) => new Uint32Array(n));
      this.#times = grow(this.#times, (n) => new Float64Array(n));
    }
    this.#offsets[this.#length] = offset;
    this.#sizes[this.#length] = size;
    this.#times[this.#length] = timestamp;
    this.#length++;
  }

  at(i: number): { offset: number; size: number; timestamp: number } | undefined {
    if (i < 0 || i >= this.#length) return undefined;
    return { offset: this.#offsets[i] as number, size: this.#sizes[i] as number, timestamp: this.#times[i] as number };
  }
}

export class AnnexBWriter {
  readonly index = new FrameIndex();
  #bytes = 0;

  get frames(): number {
    return this.index.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  processInput(frame: AnnexBFrame): WriteOp[] {
    this.index.push(this.#bytes, frame.data.length, frame.timestamp);
    this.#bytes += frame.data.length;
    return [{ type: "append", data: frame.data }];
  }
}
