// VP9 RTP payload (RFC 9628), flexible and non-flexible mode. A picture's layer frames (one per spatial layer)
// share a timestamp; more than one is joined into a superframe (VP9 bitstream spec, Annex B) so a decoder gets the
// whole picture as one IVF frame.
import { BitReader, concatBytes } from "../bits.ts";
import type { AssembledFrame, VideoPayloadFormat } from "./format.ts";

export interface Vp9Descriptor {
  /** Bytes before the VP9 payload. */
  length: number;
  /** Inter-picture predicted (P bit). */
  predicted: boolean;
  /** Start of a layer frame (B bit). */
  begin: boolean;
  /** End of a layer frame (E bit). */
  end: boolean;
  spatialId: number;
  /** Size of the highest spatial layer, from the scalability structure when present. */
  width?: number;
  height?: number;
}

export function parseVp9Descriptor(p: Uint8Array): Vp9Descriptor | undefined {
  const b0 = p[0];
  if (b0 === undefined) return undefined;
  const I = (b0 & 0x80) !== 0;
  const P = (b0 & 0x40) !== 0;
  const L = (b0 & 0x20) !== 0;
  const F = (b0 & 0x10) !== 0;
  const B = (b0 & 0x08) !== 0;
  const E = (b0 & 0x04) !== 0;
  const V = (b0 & 0x02) !== 0;
  let i = 1;
  const at = (k: number): number => {
    const v = p[k];
    if (v === undefined) throw new RangeError("descriptor runs past the packet");
    return v;
  };
  try {
    if (I) i += at(i) & 0x80 ? 2 : 1;
    let spatialId = 0;
    if (L) {
      spatialId = (at(i) >> 1) & 0x07;
      i++;
      if (!F) i++; // TL0PICIDX
    }
    if (F && P) {
      // Up to three reference indices, each with an N bit saying another follows.
      for (let k = 0; k < 3; k++) {
        const more = (at(i++) & 0x01) !== 0;
        if (!more) break;
      }
    }
    let width: number | undefined;
    let height: number | undefined;
    if (V) {
      const ss = at(i++);
      const layers = (ss >> 5) + 1;
      const Y = (ss & 0x10) !== 0;
      const G = (ss & 0x08) !== 0;
      if (Y) {
        for (let k = 0; k < layers; k++) {
          width = (at(i) << 8) | at(i + 1);
          height = (at(i + 2) << 8) | at(i + 3);
          i += 4;
        }
      }
      if (G) {
        const groups = at(i++);
        for (let k = 0; k < groups; k++) {
          const refs = (at(i++) >> 2) & 0x03;
          i += refs;
        }
      }
    }
    if (i >= p.length) return undefined;
    const d: Vp9Descriptor = { length: i, predicted: P, begin: B, end: E, spatialId };
    if (width !== undefined && height !== undefined) {
      d.width = width;
      d.height = height;
    }
    return d;
  } catch {
    return undefined;
  }
}

interface Vp9FrameHeader {
  keyframe: boolean;
  width?: number;
  height?: number;
}

/** The uncompressed header's frame type and, for key frames, the frame size. */
export function parseVp9FrameHeader(frame: Uint8Array): Vp9FrameHeader | undefined {
  try {
    const r = new BitReader(frame);
    if (r.bits(2) !== 2) return undefined; // frame_marker
    const profile = r.bits(1) | (r.bits(1) << 1);
    if (profile === 3) r.bits(1);
    if (r.flag()) return { keyframe: false }; // show_existing_frame
    if (r.bits(1) !== 0) return { keyframe: false }; // frame_type: 0 is KEY_FRAME
    r.bits(2); // show_frame, error_resilient_mode
    if (r.bits(24) !== 0x498342) return undefined; // frame_sync_code
    if (profile >= 2) r.bits(1); // ten_or_twelve_bit
    const colorSpace = r.bits(3);
    if (colorSpace !== 7) {
      r.bits(1); // color_range
      if (profile === 1 || profile === 3) r.bits(3); // subsampling_x, subsampling_y, reserved_zero
    } else if (profile === 1 || profile === 3) {
      r.bits(1);
    }
    const width = r.bits(16) + 1;
    const height = r.bits(16) + 1;
    return { keyframe: true, width, height };
  } catch {
    return undefined;
  }
}

/** Annex B superframe: the frames back to back, then an index of their sizes framed by a marker byte. */
function buildSuperframe(frames: readonly Uint8Array[]): Buffer {
  const largest = Math.max(...frames.map((f) => f.length));
  const mag = largest < 0x100 ? 1 : largest < 0x10000 ? 2 : largest < 0x1000000 ? 3 : 4;
  const marker = 0xc0 | ((mag - 1) << 3) | (frames.length - 1);
  const index = Buffer.alloc(2 + mag * frames.length);
  index[0] = marker;
  let at = 1;
  for (const f of frames) {
    for (let b = 0; b < mag; b++) index[at++] = Math.floor(f.length / 2 ** (8 * b)) & 0xff;
  }
  index[at] = marker;
  return concatBytes([...frames, index]);
}

export class Vp9Format implements VideoPayloadFormat {
  readonly codec = "VP9" as const;

  isFrameStart(p: Uint8Array): boolean {
    const d = parseVp9Descriptor(p);
    return d !== undefined && d.begin;
  }

  assemble(payloads: readonly Uint8Array[]): AssembledFrame | undefined {
    const layers: Uint8Array[][] = [];
    let first: Vp9Descriptor | undefined;
    let width: number | undefined;
    let height: number | undefined;
    let open = false;
    for (const p of payloads) {
      const d = parseVp9Descriptor(p);
      if (!d) return undefined;
      first ??= d;
      if (d.width !== undefined && d.height !== undefined) {
        width = d.width;
        height = d.height;
      }
      if (d.begin) {
        if (open) return undefined; // the previous layer frame never ended
        layers.push([]);
        open = true;
      }
      const layer = layers[layers.length - 1];
      if (!layer || !open) return undefined;
      layer.push(p.subarray(d.length));
      if (d.end) open = false;
    }
    if (!first || layers.length === 0 || open) return undefined;
    const frames = layers.map((parts) => concatBytes(parts));
    const base = frames[0] as Buffer;
    const header = parseVp9FrameHeader(base);
    if (!header) return undefined;
    const keyframe = !first.predicted && header.keyframe;
    const data = frames.length === 1 ? base : buildSuperframe(frames);
    const frame: AssembledFrame = { data, keyframe };
    if (keyframe) {
      // The scalability structure names the top layer's size; a single-layer stream's header has it too.
      frame.width = width ?? header.width;
      frame.height = height ?? header.height;
    }
    return frame;
  }
}
