import { RtpHeader, RtpPacket } from "werift";
import { describe, expect, it } from "vitest";
import { isKeyframeStart, keyframeCodec } from "../../src/media/codec/keyframe.ts";
import { GopCache } from "../../src/room/gopCache.ts";

const b = (...bytes: number[]) => Uint8Array.from(bytes);

describe("isKeyframeStart", () => {
  it("VP8: S=1, PID=0 and P=0 in the payload header; with and without extensions", () => {
    expect(isKeyframeStart("vp8", b(0x10, 0x00))).toBe(true);
    expect(isKeyframeStart("vp8", b(0x10, 0x01))).toBe(false); // inter frame
    expect(isKeyframeStart("vp8", b(0x00, 0x00))).toBe(false); // not a partition start
    expect(isKeyframeStart("vp8", b(0x11, 0x00))).toBe(false); // PID 1
    // X=1, I=1 with a 15-bit PictureID (M bit), then the payload header.
    expect(isKeyframeStart("vp8", b(0x90, 0x80, 0x81, 0x23, 0x00))).toBe(true);
    expect(isKeyframeStart("vp8", b(0x90, 0x80, 0x81, 0x23, 0x01))).toBe(false);
    // X=1, I=1 (7-bit), L=1, T=1.
    expect(isKeyframeStart("vp8", b(0x90, 0xf0, 0x05, 0x07, 0x20, 0x00))).toBe(true);
    expect(isKeyframeStart("vp8", b())).toBe(false);
  });

  it("H264: IDR and SPS single NALs, STAP-A with SPS, FU-A start of IDR only", () => {
    expect(isKeyframeStart("h264", b(0x65, 0x88))).toBe(true);
    expect(isKeyframeStart("h264", b(0x67, 0x42))).toBe(true);
    expect(isKeyframeStart("h264", b(0x41, 0x9a))).toBe(false);
    expect(isKeyframeStart("h264", b(0x18, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce))).toBe(true);
    expect(isKeyframeStart("h264", b(0x18, 0x00, 0x02, 0x06, 0x05))).toBe(false);
    expect(isKeyframeStart("h264", b(0x7c, 0x85, 0x00))).toBe(true);
    expect(isKeyframeStart("h264", b(0x7c, 0x05, 0x00))).toBe(false); // FU-A continuation
    expect(isKeyframeStart("h264", b(0x5c, 0x81, 0x00))).toBe(false); // FU-A start of a non-IDR slice
  });

  it("VP9 B=1 and P=0; AV1 N bit; H265 IDR and FU start", () => {
    expect(isKeyframeStart("vp9", b(0x08))).toBe(true);
    expect(isKeyframeStart("vp9", b(0x48))).toBe(false);
    expect(isKeyframeStart("av1", b(0x18))).toBe(true);
    expect(isKeyframeStart("av1", b(0x10))).toBe(false);
    expect(isKeyframeStart("h265", b(19 << 1, 0x01, 0x00))).toBe(true);
    expect(isKeyframeStart("h265", b(1 << 1, 0x01, 0x00))).toBe(false);
    expect(isKeyframeStart("h265", b(49 << 1, 0x01, 0x80 | 19))).toBe(true);
  });

  it("maps mime types", () => {
    expect(keyframeCodec("video/H264")).toBe("h264");
    expect(keyframeCodec("video/VP8")).toBe("vp8");
    expect(keyframeCodec("audio/opus")).toBeUndefined();
  });
});

function pkt(seq: number, ts: number, payload: number[]): RtpPacket {
  return new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp: ts, payloadType: 96, ssrc: 1 }), Buffer.from(payload));
}

describe("GopCache", () => {
  it("keeps nothing before the first keyframe, then everything from the last keyframe on", () => {
    const gop = new GopCache("h264");
    gop.push(pkt(1, 0, [0x41, 0x00]));
    expect(gop.packets).toHaveLength(0);
    gop.push(pkt(2, 3000, [0x67, 0x42])); // SPS
    gop.push(pkt(3, 3000, [0x68, 0xce])); // PPS
    gop.push(pkt(4, 3000, [0x65, 0x88])); // IDR of the same access unit: not a new GOP
    gop.push(pkt(5, 6000, [0x41, 0x9a]));
    expect(gop.packets.map((p) => p.header.sequenceNumber)).toEqual([2, 3, 4, 5]);
    gop.push(pkt(6, 9000, [0x65, 0x88])); // next keyframe
    gop.push(pkt(7, 12000, [0x41, 0x9a]));
    expect(gop.packets.map((p) => p.header.sequenceNumber)).toEqual([6, 7]);
  });

  it("drops a GOP that outgrows its byte budget until the next keyframe", () => {
    const gop = new GopCache("vp8", 120);
    gop.push(pkt(1, 0, [0x10, 0x00, ...new Array(40).fill(0)]));
    gop.push(pkt(2, 3000, [0x10, 0x01, ...new Array(40).fill(0)]));
    expect(gop.packets).toHaveLength(2);
    gop.push(pkt(3, 6000, [0x10, 0x01, ...new Array(40).fill(0)]));
    expect(gop.packets).toHaveLength(0);
    gop.push(pkt(4, 9000, [0x10, 0x01]));
    expect(gop.packets).toHaveLength(0);
    gop.push(pkt(5, 12000, [0x10, 0x00]));
    expect(gop.packets.map((p) => p.header.sequenceNumber)).toEqual([5]);
    expect(gop.bytes).toBe(14);
  });
});
