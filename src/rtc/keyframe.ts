// Does this RTP packet start a keyframe? Read from the payload headers alone (RFC 7741 VP8, RFC 9628 VP9,
// RFC 6184 H264, the AV1 RTP spec), without depacketizing, so the hot path can call it on every video packet.

export type KeyframeCodec = "vp8" | "vp9" | "h264" | "h265" | "av1";

export function keyframeCodec(mimeType: string): KeyframeCodec | undefined {
  const name = (mimeType.split("/")[1] ?? "").toLowerCase();
  return name === "vp8" || name === "vp9" || name === "h264" || name === "h265" || name === "av1" ? name : undefined;
}

function vp8(p: Uint8Array): boolean {
  if (p.length < 1) return false;
  const b0 = p[0] as number;
  // S (start of partition) and PID 0: the first packet of a frame.
  if ((b0 & 0x10) === 0 || (b0 & 0x07) !== 0) return false;
  let i = 1;
  if (b0 & 0x80) {
    if (p.length < 2) return false;
    const x = p[1] as number;
    i = 2;
    if (x & 0x80) i += ((p[i] ?? 0) & 0x80) !== 0 ? 2 : 1; // PictureID, 7 or 15 bits
    if (x & 0x40) i += 1; // TL0PICIDX
    if (x & 0x30) i += 1; // TID/KEYIDX
  }
  if (i >= p.length) return false;
  // VP8 payload header: P bit 0 means a key frame.
  return ((p[i] as number) & 0x01) === 0;
}

function vp9(p: Uint8Array): boolean {
  if (p.length < 1) return false;
  const b0 = p[0] as number;
  // I P L F B E V Z: B = start of frame, P = inter-picture predicted.
  const start = (b0 & 0x08) !== 0;
  const predicted = (b0 & 0x40) !== 0;
  return start && !predicted;
}

function h264Nal(type: number): boolean {
  // IDR slice, or SPS which OBS and browsers send right before an IDR.
  return type === 5 || type === 7;
}

function h264(p: Uint8Array): boolean {
  if (p.length < 2) return false;
  const type = (p[0] as number) & 0x1f;
  if (type >= 1 && type <= 23) return h264Nal(type);
  if (type === 24) {
    // STAP-A: 16-bit size, then NAL units.
    let i = 1;
    while (i + 2 < p.length) {
      const size = ((p[i] as number) << 8) | (p[i + 1] as number);
      const nal = (p[i + 2] as number) & 0x1f;
      if (h264Nal(nal)) return true;
      i += 2 + size;
    }
    return false;
  }
  if (type === 28) {
    // FU-A: start bit and the fragmented NAL's type.
    const fu = p[1] as number;
    return (fu & 0x80) !== 0 && h264Nal(fu & 0x1f);
  }
  return false;
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
      return vp8(payload);
    case "vp9":
      return vp9(payload);
    case "h264":
      return h264(payload);
    case "h265":
      return h265(payload);
    case "av1":
      return av1(payload);
  }
}
