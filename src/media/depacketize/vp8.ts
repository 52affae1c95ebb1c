// VP8 RTP payload (RFC 7741): strip each packet's payload descriptor, join the partitions, read the key frame's
// size from the VP8 frame header (RFC 6386 section 9.1).
import { concatBytes } from "../bits.ts";
import { vp8DescriptorLength, vp8IsFrameStart, vp8KeyframeSize } from "../codec/vp8.ts";
import type { AssembledFrame, VideoPayloadFormat } from "./format.ts";

export class Vp8Format implements VideoPayloadFormat {
  readonly codec = "VP8" as const;

  isFrameStart(p: Uint8Array): boolean {
    return vp8IsFrameStart(p);
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
    const size = vp8KeyframeSize(data);
    if (!size) return undefined;
    return { data, keyframe, width: size.width, height: size.height };
  }
}
