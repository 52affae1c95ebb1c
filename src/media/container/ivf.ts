// IVF: a 32-byte file header, then per frame a 12-byte header (size, 64-bit pts) and the frame. Frames go out
// whole in one append, and the header's length field is rewritten after each one, so the file is valid after
// every write and a kill -9 leaves at most a cut last frame.
import type { WriteOp } from "./ops.ts";

const IVF_HEADER_SIZE = 32;
export const IVF_FRAME_HEADER_SIZE = 12;

export type IvfFourcc = "VP80" | "VP90" | "AV01";

export interface IvfFrame {
  data: Uint8Array;
  /** In time-base units (RTP clock ticks); the first frame's becomes pts 0. */
  timestamp: number;
  width?: number;
  height?: number;
}

export interface IvfWriterOptions {
  fourcc: IvfFourcc;
  /** Ticks per second of the time base; 90000 keeps RTP video timestamps exact. */
  timebase?: number;
}

export function ivfHeader(fourcc: string, width: number, height: number, timebase: number, length: number): Buffer {
  const h = Buffer.alloc(IVF_HEADER_SIZE);
  h.write("DKIF", 0, "ascii");
  h.writeUInt16LE(0, 4); // version
  h.writeUInt16LE(IVF_HEADER_SIZE, 6);
  h.write(fourcc, 8, "ascii");
  h.writeUInt16LE(width & 0xffff, 12);
  h.writeUInt16LE(height & 0xffff, 14);
  h.writeUInt32LE(timebase, 16); // time base denominator ("rate")
  h.writeUInt32LE(1, 20); // numerator ("scale")
  h.writeUInt32LE(length, 24);
  h.writeUInt32LE(0, 28);
  return h;
}

export class IvfWriter {
  readonly #fourcc: IvfFourcc;
  readonly #timebase: number;
  #first: number | undefined;
  #lastPts = 0;
  #frames = 0;
  #bytes = 0;

  constructor(opts: IvfWriterOptions) {
    this.#fourcc = opts.fourcc;
    this.#timebase = opts.timebase ?? 90000;
  }

  get frames(): number {
    return this.#frames;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Pts of the last frame written, in time-base units. */
  get lastPts(): number {
    return this.#lastPts;
  }

  processInput(frame: IvfFrame): WriteOp[] {
    const ops: WriteOp[] = [];
    if (this.#first === undefined) {
      this.#first = frame.timestamp;
      const header = ivfHeader(this.#fourcc, frame.width ?? 0, frame.height ?? 0, this.#timebase, 0);
      ops.push({ type: "append", data: header });
      this.#bytes += header.length;
    }
    const pts = Math.max(0, frame.timestamp - this.#first);
    const record = Buffer.allocUnsafe(IVF_FRAME_HEADER_SIZE + frame.data.length);
    record.writeUInt32LE(frame.data.length, 0);
    record.writeUInt32LE(pts % 0x100000000, 4);
    record.writeUInt32LE(Math.floor(pts / 0x100000000), 8);
    record.set(frame.data, IVF_FRAME_HEADER_SIZE);
    ops.push({ type: "append", data: record });
    this.#bytes += record.length;
    this.#frames++;
    this.#lastPts = pts;
    if (this.#frames > 1) ops.push({ type: "patch", offset: 24, data: this.#lengthField() });
    return ops;
  }

  /**
   * libvpx calls bytes 24-27 the frame count; ffmpeg reads and writes them as the stream length in time-base units
   * (frames × average frame interval), which equals the count only when the time base is one frame. With a 90 kHz
   * time base we store the length, so ffprobe shows the true duration; decoders read frames to the end either way.
   */
  #lengthField(): Buffer {
    const n = this.#frames;
    const length = Math.min(0xffffffff, Math.round((n * this.#lastPts) / (n - 1)));
    const b = Buffer.alloc(4);
    b.writeUInt32LE(length, 0);
    return b;
  }
}
