// Does this RTP packet start a keyframe? Read from the payload headers alone (RFC 7741 VP8, RFC 9628 VP9,
// RFC 6184 H264, the AV1 RTP spec), without depacketizing, so the hot path can call it on every video packet: it
// allocates nothing. VP8 and H264 are walked by their codec modules (vp8.ts, h264.ts), which the depacketizers and
// the transcoder use too.
import { h264IsKeyframeStart } from "./h264.ts";
import { vp8IsKeyframeStart } from "./vp8.ts";

export type KeyframeCodec = "vp8" | "vp9" | "h264" | "h265" | "av1";

export function keyframeCodec(mimeType: string): KeyframeCodec | undefined {
  const name = (mimeType.split("/")[1] ?? "").toLowerCase();
  return name === "vp8" || name === "vp9" || name === "h264" || name === "h265" || name === "av1" ? name : undefined;
}

function vp9(p: Uint8Array): boolean {
  if (p.length < 1) return false;
  const b0 = p[0] as number;
  // I P L F B E V Z: B = start of frame, P = inter-picture predicted.
  const start = (b0 & 0x08) !== 0;
  const predicted = (b0 & 0x40) !== 0;
  return start && !predicted;
}

function h265Nal(type: number): boolean {
  // IRAP pictures (BLA, IDR, CRA) and VPS/SPS.
  return (type >= 16 && type <= 21) || type === 32 || type === 33;
}

function h265(p: Uint8Array): boolean {
  if (p.length < 3) return false;
  const type = ((p[0] as number) >> 1) & 0x3f;
  if (type === 48) {
    let i = 2;
    while (i + 3 < p.length) {
      const size = ((p[i] as number) << 8) | (p[i + 1] as number);
      if (h265Nal(((p[i + 2] as number) >> 1) & 0x3f)) return true;
      i += 2 + size;
    }
    return false;
  }
  if (type === 49) {
    const fu = p[2] as number;
    return (fu & 0x80) !== 0 && h265Nal(fu & 0x3f);
  }
  return h265Nal(type);
}

function av1(p: Uint8Array): boolean {
  if (p.length < 1) return false;
  // Aggregation header Z Y W W N - - -: N marks the first packet of a coded video sequence (a keyframe).
  return ((p[0] as number) & 0x08) !== 0;
}

export function isKeyframeStart(codec: KeyframeCodec, payload: Uint8Array): boolean {
  switch (codec) {
    case "vp8":
      return vp8IsKeyframeStart(payload);
    case "vp9":
      return vp9(payload);
    case "h264":
      return h264IsKeyframeStart(payload);
    case "h265":
      return h265(payload);
    case "av1":
      return av1(payload);
  }
}
