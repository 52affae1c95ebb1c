// H264 RTP payload (RFC 6184), packetization modes 0 and 1: single NAL units, STAP-A and FU-A. Out comes an Annex-B
// access unit; the last SPS and PPS are put before any IDR that arrives without them, so a file can be cut or
// joined at any key frame.
import { concatBytes } from "../bits.ts";
import { FU_A, NAL_AUD, NAL_IDR, NAL_PPS, NAL_SPS, STAP_A, walkStapA } from "../codec/h264.ts";
import type { AssembledFrame, VideoPayloadFormat } from "./format.ts";

const START_CODE = Uint8Array.of(0, 0, 0, 1);

/** The NAL units of one frame's payloads, or undefined when a packet is malformed or a fragment is cut. */
function h264NalUnits(payloads: readonly Uint8Array[]): Uint8Array[] | undefined {
  const nals: Uint8Array[] = [];
  let fragment: Uint8Array[] | undefined;
  for (const p of payloads) {
    const b0 = p[0];
    if (b0 === undefined || b0 & 0x80) return undefined;
    const type = b0 & 0x1f;
    if (type >= 1 && type <= 23) {
      if (fragment) return undefined;
      nals.push(p);
    } else if (type === STAP_A) {
      if (fragment) return undefined;
      if (walkStapA(p, (q, start, end) => (nals.push(q.subarray(start, end)), false)) === "malformed") return undefined;
    } else if (type === FU_A) {
      const fu = p[1];
      if (fu === undefined || p.length < 3) return undefined;
      const start = (fu & 0x80) !== 0;
      const end = (fu & 0x40) !== 0;
      if (start) {
        if (fragment) return undefined;
        fragment = [Uint8Array.of((b0 & 0xe0) | (fu & 0x1f))];
      } else if (!fragment) {
        return undefined;
      }
      fragment.push(p.subarray(2));
      if (end) {
        nals.push(concatBytes(fragment));
        fragment = undefined;
      }
    } else {
      // STAP-B, MTAP and FU-B belong to interleaved mode, which roomcast never negotiates.
      return undefined;
    }
  }
  if (fragment) return undefined;
  return nals;
}

export class H264Format implements VideoPayloadFormat {
  readonly codec = "H264" as const;
  #sps: Uint8Array | undefined;
  #pps: Uint8Array | undefined;

  isFrameStart(p: Uint8Array): boolean {
    const b0 = p[0];
    if (b0 === undefined) return false;
    const type = b0 & 0x1f;
    if (type >= 1 && type <= STAP_A) return true;
    return type === FU_A && p[1] !== undefined && (p[1] & 0x80) !== 0;
  }

  assemble(payloads: readonly Uint8Array[]): AssembledFrame | undefined {
    const nals = h264NalUnits(payloads);
    if (!nals || nals.length === 0) return undefined;
    let hasSps = false;
    let hasPps = false;
    let keyframe = false;
    const parts: Uint8Array[] = [];
    for (const nal of nals) {
      const type = (nal[0] as number) & 0x1f;
      if (type === NAL_SPS) {
        this.#sps = Uint8Array.from(nal);
        hasSps = true;
      } else if (type === NAL_PPS) {
        this.#pps = Uint8Array.from(nal);
        hasPps = true;
      } else if (type === NAL_IDR && !keyframe) {
        if (!hasSps && this.#sps) parts.push(START_CODE, this.#sps);
        if (!hasPps && this.#pps) parts.push(START_CODE, this.#pps);
        keyframe = (hasSps || this.#sps !== undefined) && (hasPps || this.#pps !== undefined);
      } else if (type === NAL_AUD && parts.length > 0) {
        // An access unit delimiter must come first; one in the middle would split the frame for a decoder.
        continue;
      }
      parts.push(START_CODE, nal);
    }
    return { data: concatBytes(parts), keyframe };
  }
}
