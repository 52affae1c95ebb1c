// AV1 RTP payload (AOMedia "RTP Payload Format for AV1"): aggregation headers, OBU elements with and without length
// fields, OBUs fragmented across packets. Out comes a temporal unit in the low-overhead bitstream format (AV1 spec
// section 5.2) that IVF and decoders take: a temporal delimiter, then every OBU with obu_has_size_field set.
import { BitReader, concatBytes, leb128, readLeb128 } from "../bits.ts";
import type { AssembledFrame, VideoPayloadFormat } from "./format.ts";

const OBU_SEQUENCE_HEADER = 1;
const OBU_TEMPORAL_DELIMITER = 2;
const OBU_FRAME_HEADER = 3;
const OBU_FRAME = 6;
const OBU_TILE_LIST = 8;
const OBU_PADDING = 15;

const TEMPORAL_DELIMITER = Uint8Array.of(0x12, 0x00);

export interface Av1Aggregation {
  /** First element continues an OBU from the previous packet. */
  z: boolean;
  /** Last element continues in the next packet. */
  y: boolean;
  /** First packet of a coded video sequence. */
  n: boolean;
  elements: Uint8Array[];
}

export function parseAv1Aggregation(p: Uint8Array): Av1Aggregation | undefined {
  const h = p[0];
  if (h === undefined) return undefined;
  const w = (h >> 4) & 0x03;
  const elements: Uint8Array[] = [];
  let i = 1;
  while (i < p.length) {
    let size: number;
    if (w !== 0 && elements.length === w - 1) {
      size = p.length - i;
    } else {
      const len = readLeb128(p, i);
      if (!len) return undefined;
      i += len.length;
      size = len.value;
    }
    if (i + size > p.length) return undefined;
    elements.push(p.subarray(i, i + size));
    i += size;
  }
  if (elements.length === 0 || (w !== 0 && elements.length !== w)) return undefined;
  return { z: (h & 0x80) !== 0, y: (h & 0x40) !== 0, n: (h & 0x08) !== 0, elements };
}

export interface Av1SequenceInfo {
  reducedStillPictureHeader: boolean;
  width: number;
  height: number;
}

/** Reads sequence_header_obu() (AV1 spec 5.5) as far as the maximum frame size. */
export function parseAv1SequenceHeader(payload: Uint8Array): Av1SequenceInfo | undefined {
  try {
    const r = new BitReader(payload);
    r.bits(3); // seq_profile
    r.bits(1); // still_picture
    const reduced = r.flag();
    if (reduced) {
      r.bits(5); // seq_level_idx[0]
    } else {
      let decoderModelInfo = false;
      let bufferDelayLength = 0;
      if (r.flag()) {
        // timing_info()
        r.bits(32);
        r.bits(32);
        if (r.flag()) r.uvlc();
        decoderModelInfo = r.flag();
        if (decoderModelInfo) {
          bufferDelayLength = r.bits(5) + 1;
          r.bits(32);
          r.bits(5);
          r.bits(5);
        }
      }
      const initialDisplayDelay = r.flag();
      const points = r.bits(5) + 1;
      for (let k = 0; k < points; k++) {
        r.bits(12); // operating_point_idc
        const level = r.bits(5);
        if (level > 7) r.bits(1); // seq_tier
        if (decoderModelInfo && r.flag()) {
          r.bits(bufferDelayLength);
          r.bits(bufferDelayLength);
          r.bits(1);
        }
        if (initialDisplayDelay && r.flag()) r.bits(4);
      }
    }
    const widthBits = r.bits(4) + 1;
    const heightBits = r.bits(4) + 1;
    const width = r.bits(widthBits) + 1;
    const height = r.bits(heightBits) + 1;
    return { reducedStillPictureHeader: reduced, width, height };
  } catch {
    return undefined;
  }
}

interface Obu {
  type: number;
  /** Header bytes (1, or 2 with the extension), has_size_field cleared. */
  header: Uint8Array;
  payload: Uint8Array;
}

function splitObu(bytes: Uint8Array): Obu | undefined {
  const h = bytes[0];
  if (h === undefined || h & 0x80) return undefined; // forbidden bit
  const headerLength = h & 0x04 ? 2 : 1;
  if (bytes.length < headerLength) return undefined;
  const header = Uint8Array.from(bytes.subarray(0, headerLength));
  header[0] = h & ~0x02;
  let payload = bytes.subarray(headerLength);
  if (h & 0x02) {
    const len = readLeb128(bytes, headerLength);
    if (!len || headerLength + len.length + len.value > bytes.length) return undefined;
    payload = bytes.subarray(headerLength + len.length, headerLength + len.length + len.value);
  }
  return { type: (h >> 3) & 0x0f, header, payload };
}

export class Av1Format implements VideoPayloadFormat {
  readonly codec = "AV1" as const;
  /** The last sequence header seen: a frame is decodable from scratch only with one. */
  #sequence: Av1SequenceInfo | undefined;

  isFrameStart(p: Uint8Array): boolean {
    const h = p[0];
    return h !== undefined && (h & 0x80) === 0;
  }

  assemble(payloads: readonly Uint8Array[]): AssembledFrame | undefined {
    const obus: Uint8Array[] = [];
    let fragment: Uint8Array[] | undefined;
    let continues = false;
    for (const p of payloads) {
      const agg = parseAv1Aggregation(p);
      if (!agg || agg.z !== continues) return undefined;
      for (let k = 0; k < agg.elements.length; k++) {
        const el = agg.elements[k] as Uint8Array;
        const parts: Uint8Array[] = k === 0 && agg.z && fragment ? fragment : [];
        parts.push(el);
        if (k === agg.elements.length - 1 && agg.y) {
          fragment = parts;
        } else {
          obus.push(concatBytes(parts));
          fragment = undefined;
        }
      }
      continues = agg.y;
    }
    if (continues || obus.length === 0) return undefined;

    const parts: Uint8Array[] = [TEMPORAL_DELIMITER];
    let keyframe = false;
    let sawFrameHeader = false;
    for (const bytes of obus) {
      const obu = splitObu(bytes);
      if (!obu) return undefined;
      if (obu.type === OBU_TEMPORAL_DELIMITER || obu.type === OBU_TILE_LIST || obu.type === OBU_PADDING) continue;
      if (obu.type === OBU_SEQUENCE_HEADER) {
        const seq = parseAv1SequenceHeader(obu.payload);
        if (!seq) return undefined;
        this.#sequence = seq;
      }
      if ((obu.type === OBU_FRAME || obu.type === OBU_FRAME_HEADER) && !sawFrameHeader) {
        sawFrameHeader = true;
        keyframe = this.#isKeyFrame(obu.payload);
      }
      obu.header[0] = (obu.header[0] as number) | 0x02;
      parts.push(obu.header, leb128(obu.payload.length), obu.payload);
    }
    const frame: AssembledFrame = { data: concatBytes(parts), keyframe };
    if (keyframe && this.#sequence) {
      frame.width = this.#sequence.width;
      frame.height = this.#sequence.height;
    }
    return frame;
  }

  /** uncompressed_header(): show_existing_frame, then frame_type, where 0 is KEY_FRAME. */
  #isKeyFrame(payload: Uint8Array): boolean {
    const seq = this.#sequence;
    if (!seq) return false;
    if (seq.reducedStillPictureHeader) return true;
    const b = payload[0];
    if (b === undefined) return false;
    const showExisting = (b & 0x80) !== 0;
    return !showExisting && ((b >> 5) & 0x03) === 0;
  }
}
