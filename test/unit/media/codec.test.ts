// The one VP8 descriptor walk and the one H264 STAP-A walk (src/media/codec/), on whole and truncated input: every
// prefix of a valid payload is answered without throwing, and the keyframe check, the depacketizers and the
// transcoder's probes agree because they are the same code.
import { describe, expect, it } from "vitest";
import { h264IsKeyframeStart, walkStapA } from "../../../src/media/codec/h264.ts";
import { isKeyframeStart } from "../../../src/media/codec/keyframe.ts";
import { vp8DescriptorLength, vp8IsFrameStart, vp8IsKeyframeStart, vp8KeyframeSize } from "../../../src/media/codec/vp8.ts";
import { H264Format } from "../../../src/media/depacketize/h264.ts";
import { Vp8Format } from "../../../src/media/depacketize/vp8.ts";
import { h264PayloadNals, parseVp8KeyframeSize } from "../../../src/media/transcode/sourceFormat.ts";

const B = (...bytes: number[]) => Uint8Array.from(bytes);
const prefixes = (p: Uint8Array) => Array.from({ length: p.length }, (_, n) => p.subarray(0, n));

/** X=1 with a 15-bit PictureID, TL0PICIDX and TID: a 6-byte descriptor, then a 640x360 key frame header. */
const VP8_KEY = B(0x90, 0xe0, 0x81, 0x05, 0x07, 0x20, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01, 0xaa);

describe("VP8 payload descriptor", () => {
  it("reads every extension of the descriptor, and the key frame's size after it", () => {
    expect(vp8DescriptorLength(VP8_KEY)).toBe(6);
    expect(vp8IsFrameStart(VP8_KEY)).toBe(true);
    expect(vp8IsKeyframeStart(VP8_KEY)).toBe(true);
    expect(vp8KeyframeSize(VP8_KEY, 6)).toEqual({ width: 640, height: 360 });
    expect(parseVp8KeyframeSize(VP8_KEY)).toEqual({ width: 640, height: 360 });
  });

  it("on every truncation: no descriptor without a payload byte after it, no size without the whole header", () => {
    for (const p of prefixes(VP8_KEY)) {
      expect(vp8DescriptorLength(p)).toBe(p.length > 6 ? 6 : undefined);
      // The key frame bit is in the first payload byte: known once the descriptor and one byte are there.
      expect(vp8IsKeyframeStart(p)).toBe(p.length > 6);
      expect(isKeyframeStart("vp8", p)).toBe(p.length > 6);
      expect(parseVp8KeyframeSize(p)).toEqual(p.length >= 16 ? { width: 640, height: 360 } : undefined);
    }
    // A descriptor that announces a PictureID it does not carry.
    expect(vp8DescriptorLength(B(0x90, 0x80))).toBeUndefined();
    expect(vp8IsKeyframeStart(B(0x90, 0x80))).toBe(false);
  });

  it("the depacketizer agrees with the keyframe check about where frames start", () => {
    const format = new Vp8Format();
    for (const p of [VP8_KEY, B(0x10, 0x01, 0xaa), B(0x00, 0x00, 0xaa), B(0x11, 0x00), ...prefixes(VP8_KEY)]) {
      expect(format.isFrameStart(p)).toBe(vp8IsFrameStart(p));
      if (vp8IsKeyframeStart(p)) expect(format.isFrameStart(p)).toBe(true);
    }
  });
});

/** A STAP-A with SPS and PPS, then (separately) an IDR. */
const SPS = B(0x67, 0x42, 0xc0, 0x1e);
const PPS = B(0x68, 0xce, 0x3c, 0x80);
const STAP = B(0x18, 0x00, SPS.length, ...SPS, 0x00, PPS.length, ...PPS);

describe("H264 STAP-A walk", () => {
  it("visits each aggregated unit in order, and can be stopped", () => {
    const seen: number[][] = [];
    expect(walkStapA(STAP, (p, s, e) => (seen.push([...p.subarray(s, e)]), false))).toBe("ok");
    expect(seen).toEqual([[...SPS], [...PPS]]);
    expect(walkStapA(STAP, () => true)).toBe("stopped");
  });

  it("a size of 0, a size past the end, or a cut size field is malformed; the units before it were visited", () => {
    const visited = (p: Uint8Array) => {
      const n: number[] = [];
      return { result: walkStapA(p, (q, s) => (n.push(q[s] as number), false)), n };
    };
    expect(visited(B(0x18, 0x00, 0x00, 0x67))).toEqual({ result: "malformed", n: [] });
    expect(visited(B(0x18, 0x00, 0x09, 0x67, 0x42))).toEqual({ result: "malformed", n: [] });
    expect(visited(B(0x18, 0x00, 0x01, 0x67, 0x00))).toEqual({ result: "malformed", n: [0x67] });
    for (const p of prefixes(STAP).slice(1)) {
      const r = visited(p);
      // Cut right after a unit (the SPS) is a shorter STAP-A, not a broken one.
      expect(r.result).toBe(p.length === 1 || p.length === 3 + SPS.length ? "ok" : "malformed");
    }
  });

  it("truncated STAP-As: the keyframe check, the depacketizer and the parameter-set reader see the same units", () => {
    for (const p of [STAP, ...prefixes(STAP)]) {
      const whole: Uint8Array[] = [];
      const result = walkStapA(p, (q, s, e) => (whole.push(q.subarray(s, e)), false));
      // The keyframe check: an SPS counts only when it arrived whole.
      expect(h264IsKeyframeStart(p)).toBe(p.length >= 2 && whole.some((n) => ((n[0] as number) & 0x1f) === 7));
      expect(h264PayloadNals(p).map((n) => [...n])).toEqual(whole.map((n) => [...n]));
      // The depacketizer refuses a malformed payload as a whole.
      const frame = new H264Format().assemble([p]);
      if (result === "malformed") expect(frame).toBeUndefined();
    }
    expect(h264IsKeyframeStart(STAP)).toBe(true);
    expect(h264IsKeyframeStart(B(0x18, 0x00, 0x02, 0x06, 0x05))).toBe(false);
  });
});
