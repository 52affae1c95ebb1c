// H265/HEVC RTP payload (RFC 7798) as OBS (libdatachannel's H265RtpPacketizer), Safari and Chrome send it: single
// NAL unit packets, aggregation packets (AP) and fragmentation units (FU), without DONL (sprop-max-don-diff is 0,
// the only mode roomcast negotiates). Out comes an Annex-B access unit; the last VPS, SPS and PPS (from the stream,
// or from the fmtp's sprop-vps/sps/pps until the stream sends its own) are put before any IRAP picture that arrives
// without them, so a file can be cut or joined at any key frame, as the H264 writer does with SPS/PPS.
import { concatBytes } from "../bits.ts";
import type { AssembledFrame, VideoPayloadFormat } from "./format.ts";

/** NAL unit types (H.265 table 7-1). IRAP pictures are 16..23 (BLA, IDR, CRA and the reserved IRAP types). */
const IRAP_FIRST = 16;
const IRAP_LAST = 23;
const NAL_VPS = 32;
const NAL_SPS = 33;
const NAL_PPS = 34;
const NAL_AUD = 35;
/** RFC 7798 payload types: aggregation packet, fragmentation unit, PACI. */
const AP = 48;
const FU = 49;

const START_CODE = Uint8Array.of(0, 0, 0, 1);

/** The 6-bit NAL unit type from the first byte of a NAL unit header (or of an RTP payload header). */
export function h265NalType(firstByte: number): number {
  return (firstByte >> 1) & 0x3f;
}

/** The NAL units of one frame's payloads, or undefined when a packet is malformed or a fragment is cut. */
export function h265NalUnits(payloads: readonly Uint8Array[]): Uint8Array[] | undefined {
  const nals: Uint8Array[] = [];
  let fragment: Uint8Array[] | undefined;
  for (const p of payloads) {
    const b0 = p[0];
    const b1 = p[1];
    // The forbidden bit set, or no room for the two-byte payload header.
    if (b0 === undefined || b1 === undefined || b0 & 0x80) return undefined;
    const type = h265NalType(b0);
    if (type < AP) {
      if (fragment || p.length < 3) return undefined;
      nals.push(p);
    } else if (type === AP) {
      if (fragment) return undefined;
      let i = 2;
      let count = 0;
      while (i < p.length) {
        if (i + 2 > p.length) return undefined;
        const size = ((p[i] as number) << 8) | (p[i + 1] as number);
        i += 2;
        // Every aggregated unit has at least its own two-byte header.
        if (size < 2 || i + size > p.length) return undefined;
        nals.push(p.subarray(i, i + size));
        i += size;
        count++;
      }
      if (count === 0) return undefined;
    } else if (type === FU) {
      const fu = p[2];
      if (fu === undefined || p.length < 4) return undefined;
      const start = (fu & 0x80) !== 0;
      const end = (fu & 0x40) !== 0;
      const fuType = fu & 0x3f;
      // A unit cannot be both first and last fragment (RFC 7798 §4.4.3), nor be an AP or FU itself.
      if ((start && end) || fuType === AP || fuType === FU) return undefined;
      if (start) {
        if (fragment) return undefined;
        // The NAL header is rebuilt from the payload header: F and LayerId's top bit, the FU's type, TID.
        fragment = [Uint8Array.of((b0 & 0x81) | (fuType << 1), b1)];
      } else if (!fragment) {
        return undefined;
      }
      fragment.push(p.subarray(3));
      if (end) {
        nals.push(concatBytes(fragment));
        fragment = undefined;
      }
    } else {
      // PACI (50) and the unspecified types are never sent without being negotiated.
      return undefined;
    }
  }
  if (fragment) return undefined;
  return nals;
}

export interface H265ParameterSets {
  vps?: Uint8Array;
  sps?: Uint8Array;
  pps?: Uint8Array;
}

/** sprop-vps / sprop-sps / sprop-pps from an fmtp (RFC 7798 §7.1: base64, the first of a comma list). */
export function h265ParameterSetsFromFmtp(fmtp: string): H265ParameterSets {
  const out: H265ParameterSets = {};
  for (const part of fmtp.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim().toLowerCase();
    const which = key === "sprop-vps" ? "vps" : key === "sprop-sps" ? "sps" : key === "sprop-pps" ? "pps" : undefined;
    if (!which) continue;
    const first = part.slice(eq + 1).trim().split(",")[0] ?? "";
    const bytes = Uint8Array.from(Buffer.from(first, "base64"));
    const expected = which === "vps" ? NAL_VPS : which === "sps" ? NAL_SPS : NAL_PPS;
    // Only a NAL unit of the type the key names; anything else in the fmtp is ignored, never written.
    if (bytes.length >= 3 && !((bytes[0] as number) & 0x80) && h265NalType(bytes[0] as number) === expected) out[which] = bytes;
  }
  return out;
}

export class H265Format implements VideoPayloadFormat {
  readonly codec = "H265" as const;
  #vps: Uint8Array | undefined;
  #sps: Uint8Array | undefined;
  #pps: Uint8Array | undefined;

  constructor(initial: H265ParameterSets = {}) {
    this.#vps = initial.vps;
    this.#sps = initial.sps;
    this.#pps = initial.pps;
  }

  isFrameStart(p: Uint8Array): boolean {
    const b0 = p[0];
    if (b0 === undefined) return false;
    const type = h265NalType(b0);
    if (type <= AP) return true;
    return type === FU && p[2] !== undefined && (p[2] & 0x80) !== 0;
  }

  assemble(payloads: readonly Uint8Array[]): AssembledFrame | undefined {
    const nals = h265NalUnits(payloads);
    if (!nals || nals.length === 0) return undefined;
    let hasVps = false;
    let hasSps = false;
    let hasPps = false;
    let keyframe = false;
    let irapSeen = false;
    const parts: Uint8Array[] = [];
    for (const nal of nals) {
      const type = h265NalType(nal[0] as number);
      if (type === NAL_VPS) {
        this.#vps = Uint8Array.from(nal);
        hasVps = true;
      } else if (type === NAL_SPS) {
        this.#sps = Uint8Array.from(nal);
        hasSps = true;
      } else if (type === NAL_PPS) {
        this.#pps = Uint8Array.from(nal);
        hasPps = true;
      } else if (type >= IRAP_FIRST && type <= IRAP_LAST && !irapSeen) {
        irapSeen = true;
        if (!hasVps && this.#vps) parts.push(START_CODE, this.#vps);
        if (!hasSps && this.#sps) parts.push(START_CODE, this.#sps);
        if (!hasPps && this.#pps) parts.push(START_CODE, this.#pps);
        keyframe = this.#vps !== undefined && this.#sps !== undefined && this.#pps !== undefined;
      } else if (type === NAL_AUD && parts.length > 0) {
        // An access unit delimiter must come first; one in the middle would split the picture for a decoder.
        continue;
      }
      parts.push(START_CODE, nal);
    }
    return { data: concatBytes(parts), keyframe };
  }
}
