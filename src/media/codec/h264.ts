// The H264 RTP payload (RFC 6184 5.2-5.8): NAL unit types, and the STAP-A walk, once here and bounds checked, for
// the keyframe check on the forwarding path, the depacketizer and the transcoder's parameter-set reader.

export const NAL_IDR = 5;
export const NAL_SPS = 7;
export const NAL_PPS = 8;
export const NAL_AUD = 9;
export const STAP_A = 24;
export const FU_A = 28;

/** The NAL unit type of a NAL header byte (or of an RTP payload's first byte). */
export function nalType(b: number): number {
  return b & 0x1f;
}

/**
 * Calls `visit(p, start, end)` for each NAL unit aggregated in a STAP-A payload, in order, until it returns true.
 * Returns "ok" after the last one, "stopped" when `visit` stopped it, "malformed" at a size of 0 or a unit running
 * past the payload (the units before it were visited). Allocates nothing: pass a function made once.
 */
export function walkStapA(p: Uint8Array, visit: (p: Uint8Array, start: number, end: number) => boolean): "ok" | "stopped" | "malformed" {
  let i = 1;
  while (i < p.length) {
    if (i + 2 > p.length) return "malformed";
    const size = ((p[i] as number) << 8) | (p[i + 1] as number);
    i += 2;
    if (size === 0 || i + size > p.length) return "malformed";
    if (visit(p, i, i + size)) return "stopped";
    i += size;
  }
  return "ok";
}

/** IDR slice, or SPS, which OBS and browsers send right before an IDR. */
function startsKeyframe(type: number): boolean {
  return type === NAL_IDR || type === NAL_SPS;
}

const keyframeNal = (p: Uint8Array, start: number): boolean => startsKeyframe(nalType(p[start] as number));

/** Whether this payload starts a key frame: an IDR or SPS whole, in a STAP-A, or an FU-A's first fragment of one. */
export function h264IsKeyframeStart(p: Uint8Array): boolean {
  if (p.length < 2) return false;
  const type = nalType(p[0] as number);
  if (type >= 1 && type <= 23) return startsKeyframe(type);
  if (type === STAP_A) return walkStapA(p, keyframeNal) === "stopped";
  if (type === FU_A) {
    const fu = p[1] as number;
    return (fu & 0x80) !== 0 && startsKeyframe(nalType(fu));
  }
  return false;
}
