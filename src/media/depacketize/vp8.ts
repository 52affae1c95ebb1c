// VP8 RTP payload (RFC 7741): strip each packet's payload descriptor, join the partitions, read the key frame's
// size from the VP8 frame header (RFC 6386 section 9.1).
import { concatBytes } from "../bits.ts";
import type { AssembledFrame, VideoPayloadFormat } from "./format.ts";

/** Length of the payload descriptor, or undefined when the packet is too short to hold one and some payload. */
export function vp8DescriptorLength(p: Uint8Array): number | undefined {
  const b0 = p[0];
  if (b0 === undefined) return undefined;
  let i = 1;
  if (b0 & 0x80) {
    const x = p[1];
    if (x === undefined) return undefined;
    i = 2;
    if (x & 0x80) {
      const pid = p[i];
      if (pid === undefined) return undefined;
      i += pid & 0x80 ? 2 : 1;
    }
    if (x & 0x40) i++;
    if (x & 0x30) i++;
  }
  return i < p.length ? i : undefined;
}

export class Vp8Format implements VideoPayloadFormat {
  readonly codec = "VP8" as const;

  isFrameStart(p: Uint8Array): boolean {
    const b0 = p[0];
    // S=1 and partition index 0.
    return b0 !== undefined && (b0 & 0x10) !== 0 && (b0 & 0x07) === 0 && vp8DescriptorLength(p) !== undefined;
  }

  assemble(payloads: readonly Uint8Array[]): AssembledFrame | undefined {
    const parts: Uint8Array[] = [];
    for (const p of payloads) {
      const skip = vp8DescriptorLength(p);
      if (skip === undefined) return undefined;
      parts.push(p.subarray(skip));
    }
    const data = concatBytes(parts);
    if (data.length < 3) return undefined;
    const keyframe = ((data[0] as number) & 0x01) === 0;
    if (!keyframe) return { data, keyframe };
    // Key frames carry a start code and the 14-bit dimensions right after the 3-byte frame tag.
    if (data.length < 10 || data[3] !== 0x9d || data[4] !== 0x01 || data[5] !== 0x2a) return undefined;
    const width = ((data[6] as number) | ((data[7] as number) << 8)) & 0x3fff;
    const height = ((data[8] as number) | ((data[9] as number) << 8)) & 0x3fff;
    return { data, keyframe, width, height };
  }
}
