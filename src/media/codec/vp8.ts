// The VP8 RTP payload descriptor (RFC 7741 4.2) and the key frame header (RFC 6386 9.1), walked once here, bounds
// checked, for the keyframe check on the forwarding path, the depacketizer and the transcoder's size probe.
// Nothing here allocates.

/**
 * Length of the payload descriptor: the offset of the VP8 payload. Undefined when the packet is too short to hold
 * the descriptor its own bits announce and at least one byte of payload.
 */
export function vp8DescriptorLength(p: Uint8Array): number | undefined {
  const b0 = p[0];
  if (b0 === undefined) return undefined;
  let i = 1;
  if (b0 & 0x80) {
    const x = p[1];
    if (x === undefined) return undefined;
    i = 2;
    if (x & 0x80) {
      // PictureID, 7 or 15 bits (M bit).
      const pid = p[i];
      if (pid === undefined) return undefined;
      i += pid & 0x80 ? 2 : 1;
    }
    if (x & 0x40) i++; // TL0PICIDX
    if (x & 0x30) i++; // TID/Y/KEYIDX
  }
  return i < p.length ? i : undefined;
}

/** S=1 and partition index 0: the packet that starts a frame. */
export function vp8IsFrameStart(p: Uint8Array): boolean {
  const b0 = p[0];
  return b0 !== undefined && (b0 & 0x10) !== 0 && (b0 & 0x07) === 0 && vp8DescriptorLength(p) !== undefined;
}

/** The first packet of a key frame: a frame start whose payload header has P (bit 0) clear. */
export function vp8IsKeyframeStart(p: Uint8Array): boolean {
  if (!vp8IsFrameStart(p)) return false;
  return ((p[vp8DescriptorLength(p) as number] as number) & 0x01) === 0;
}

export interface Vp8Size {
  width: number;
  height: number;
}

/**
 * The picture size in a key frame's header, from `at` in `data` (a frame, or a first packet after its
 * descriptor): the 3-byte frame tag, the start code 9d 01 2a, then two 14-bit sizes. Undefined when it is not a
 * key frame header or is cut short.
 */
export function vp8KeyframeSize(data: Uint8Array, at = 0): Vp8Size | undefined {
  if (data.length < at + 10) return undefined;
  if (((data[at] as number) & 0x01) !== 0) return undefined;
  if (data[at + 3] !== 0x9d || data[at + 4] !== 0x01 || data[at + 5] !== 0x2a) return undefined;
  const width = ((data[at + 6] as number) | ((data[at + 7] as number) << 8)) & 0x3fff;
  const height = ((data[at + 8] as number) | ((data[at + 9] as number) << 8)) & 0x3fff;
  return { width, height };
}
