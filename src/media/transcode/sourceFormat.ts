// The source's picture size, read from the RTP payloads themselves before ffmpeg is started: the H264 SPS
// (RFC 6184 single NAL or STAP-A; ITU-T H.264 7.3.2.1.1) or the VP8 key frame header (RFC 6386 9.1). The ladder
// is fitted to it, so no rung is taller than the source. Pure, no allocation on packets that are not headers.
import { nalType, STAP_A, walkStapA } from "../codec/h264.ts";
import { vp8DescriptorLength, vp8IsFrameStart, vp8KeyframeSize } from "../codec/vp8.ts";

export interface PictureSize {
  width: number;
  height: number;
}

/** Exp-Golomb reading over an RBSP (emulation prevention bytes already removed). */
class RbspReader {
  #pos = 0;
  constructor(readonly data: Uint8Array) {}

  bit(): number {
    const byte = this.data[this.#pos >> 3];
    if (byte === undefined) throw new RangeError("SPS ends early");
    const v = (byte >> (7 - (this.#pos & 7))) & 1;
    this.#pos++;
    return v;
  }

  bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.bit();
    return v;
  }

  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) {
      if (++zeros > 31) throw new RangeError("bad Exp-Golomb code");
    }
    return 2 ** zeros - 1 + this.bits(zeros);
  }

  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }
}

/** Drops the 0x03 of every 00 00 03 sequence (H.264 7.4.1). */
export function unescapeRbsp(nal: Uint8Array): Uint8Array {
  const out = new Uint8Array(nal.length);
  let n = 0;
  let zeros = 0;
  for (const b of nal) {
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    zeros = b === 0 ? zeros + 1 : 0;
    out[n++] = b;
  }
  return out.subarray(0, n);
}

const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

function skipScalingList(r: RbspReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) next = (last + r.se() + 256) % 256;
    last = next === 0 ? last : next;
  }
}

export interface SpsInfo extends PictureSize {
  profileIdc: number;
  levelIdc: number;
}

/** The displayed size of an SPS NAL unit (header byte included); undefined when it is not an SPS or is malformed. */
export function parseH264Sps(nal: Uint8Array): SpsInfo | undefined {
  if (nal.length < 4 || ((nal[0] as number) & 0x1f) !== 7) return undefined;
  try {
    const r = new RbspReader(unescapeRbsp(nal.subarray(1)));
    const profileIdc = r.bits(8);
    r.bits(8); // constraint flags
    const levelIdc = r.bits(8);
    r.ue(); // seq_parameter_set_id
    let chromaFormatIdc = 1;
    let separateColourPlane = 0;
    if (HIGH_PROFILES.has(profileIdc)) {
      chromaFormatIdc = r.ue();
      if (chromaFormatIdc === 3) separateColourPlane = r.bit();
      r.ue(); // bit_depth_luma_minus8
      r.ue(); // bit_depth_chroma_minus8
      r.bit(); // qpprime_y_zero_transform_bypass_flag
      if (r.bit()) {
        for (let i = 0; i < (chromaFormatIdc !== 3 ? 8 : 12); i++) if (r.bit()) skipScalingList(r, i < 6 ? 16 : 64);
      }
    }
    r.ue(); // log2_max_frame_num_minus4
    const pocType = r.ue();
    if (pocType === 0) r.ue();
    else if (pocType === 1) {
      r.bit();
      r.se();
      r.se();
      const cycle = r.ue();
      for (let i = 0; i < cycle; i++) r.se();
    }
    r.ue(); // max_num_ref_frames
    r.bit(); // gaps_in_frame_num_value_allowed_flag
    const widthMbs = r.ue() + 1;
    const heightMapUnits = r.ue() + 1;
    const frameMbsOnly = r.bit();
    if (!frameMbsOnly) r.bit(); // mb_adaptive_frame_field_flag
    r.bit(); // direct_8x8_inference_flag
    let crop = [0, 0, 0, 0];
    if (r.bit()) crop = [r.ue(), r.ue(), r.ue(), r.ue()];
    const chroma = separateColourPlane ? 0 : chromaFormatIdc;
    const subWidth = chroma === 1 || chroma === 2 ? 2 : 1;
    const subHeight = chroma === 1 ? 2 : 1;
    const cropX = chroma === 0 ? 1 : subWidth;
    const cropY = (chroma === 0 ? 1 : subHeight) * (2 - frameMbsOnly);
    const [left, right, top, bottom] = crop as [number, number, number, number];
    const width = widthMbs * 16 - (left + right) * cropX;
    const height = (2 - frameMbsOnly) * heightMapUnits * 16 - (top + bottom) * cropY;
    if (width <= 0 || height <= 0) return undefined;
    return { width, height, profileIdc, levelIdc };
  } catch {
    return undefined;
  }
}

/**
 * The NAL units carried whole in one H264 RTP payload (single NAL or STAP-A); fragments are left out, and so is
 * whatever follows a malformed unit of a STAP-A.
 */
export function h264PayloadNals(payload: Uint8Array): Uint8Array[] {
  const b0 = payload[0];
  if (b0 === undefined) return [];
  const type = nalType(b0);
  if (type >= 1 && type <= 23) return [payload];
  if (type !== STAP_A) return [];
  const out: Uint8Array[] = [];
  walkStapA(payload, (p, start, end) => (out.push(p.subarray(start, end)), false));
  return out;
}

/** Follows an H264 stream's latest SPS and PPS (for the size, and for ffmpeg's sprop-parameter-sets). */
export class H264ParameterSets {
  sps: Uint8Array | undefined;
  pps: Uint8Array | undefined;
  size: SpsInfo | undefined;

  /** Returns true when this payload carried an SPS that changed the picture size. */
  push(payload: Uint8Array): boolean {
    const b0 = payload[0];
    // Only single SPS/PPS NALs and STAP-As can hold parameter sets; every other packet returns here.
    if (b0 === undefined) return false;
    const type = b0 & 0x1f;
    if (type !== 7 && type !== 8 && type !== 24) return false;
    let changed = false;
    for (const nal of h264PayloadNals(payload)) {
      const t = (nal[0] as number) & 0x1f;
      if (t === 7) {
        const info = parseH264Sps(nal);
        if (!info) continue;
        this.sps = Uint8Array.from(nal);
        if (this.size?.width !== info.width || this.size?.height !== info.height) changed = true;
        this.size = info;
      } else if (t === 8) {
        this.pps = Uint8Array.from(nal);
      }
    }
    return changed;
  }

  /** `sprop-parameter-sets` for an SDP fmtp line, or undefined before both sets were seen. */
  get spropParameterSets(): string | undefined {
    if (!this.sps || !this.pps) return undefined;
    return `${Buffer.from(this.sps).toString("base64")},${Buffer.from(this.pps).toString("base64")}`;
  }
}

/** The size in a VP8 key frame's first RTP packet (RFC 7741 descriptor, then the key frame header); else undefined. */
export function parseVp8KeyframeSize(payload: Uint8Array): PictureSize | undefined {
  if (!vp8IsFrameStart(payload)) return undefined;
  const size = vp8KeyframeSize(payload, vp8DescriptorLength(payload) as number);
  return size && size.width > 0 && size.height > 0 ? size : undefined;
}
