import { describe, expect, it } from "vitest";
import { H264ParameterSets, h264PayloadNals, parseH264Sps, parseVp8KeyframeSize, unescapeRbsp } from "../../../../src/media/transcode/sourceFormat.ts";

const hex = (h: string) => Uint8Array.from(Buffer.from(h, "hex"));

// SPS NAL units libx264 wrote (ffmpeg -f lavfi -i testsrc=size=WxH -profile:v P -f h264).
const SPS = {
  baseline640x360: "6742c01ed900a02ff970110000030001000003003c0f162e48",
  high1920x1080: "67640028acd940780227e5c044000003000400000300f03c60c658",
  main1280x720: "674d401feca02802dd8088000003000800000301e078c18cb0",
  high854x480: "6764001facd940d83de6f0110000030001000003003c0f183196",
};

describe("parseH264Sps", () => {
  it("reads the displayed size, with cropping (1088 → 1080, 864 → 854) and High profile fields", () => {
    expect(parseH264Sps(hex(SPS.baseline640x360))).toEqual({ width: 640, height: 360, profileIdc: 66, levelIdc: 30 });
    expect(parseH264Sps(hex(SPS.high1920x1080))).toEqual({ width: 1920, height: 1080, profileIdc: 100, levelIdc: 40 });
    expect(parseH264Sps(hex(SPS.main1280x720))).toEqual({ width: 1280, height: 720, profileIdc: 77, levelIdc: 31 });
    expect(parseH264Sps(hex(SPS.high854x480))).toMatchObject({ width: 854, height: 480 });
  });

  it("refuses what is not an SPS, and truncated ones", () => {
    expect(parseH264Sps(hex("68ce3c80"))).toBeUndefined(); // a PPS
    expect(parseH264Sps(hex(SPS.high1920x1080.slice(0, 14)))).toBeUndefined();
    expect(parseH264Sps(new Uint8Array())).toBeUndefined();
  });

  it("drops emulation prevention bytes", () => {
    expect([...unescapeRbsp(hex("0000030100000302"))]).toEqual([0, 0, 1, 0, 0, 2]);
    expect([...unescapeRbsp(hex("6700000300"))]).toEqual([0x67, 0, 0, 0]);
  });
});

describe("H264 parameter sets from RTP payloads", () => {
  const pps = "68ce3c80";
  const stapA = (...nals: string[]) =>
    hex(`18${nals.map((n) => `${(n.length / 2).toString(16).padStart(4, "0")}${n}`).join("")}`);

  it("single NALs and STAP-A; FU-A is left out", () => {
    expect(h264PayloadNals(hex("6742c0"))).toHaveLength(1);
    expect(h264PayloadNals(stapA(SPS.baseline640x360, pps)).map((n) => n[0])).toEqual([0x67, 0x68]);
    expect(h264PayloadNals(hex("7c8500"))).toEqual([]);
    // A STAP-A whose size runs past the end stops there.
    expect(h264PayloadNals(hex("180010674200"))).toEqual([]);
  });

  it("follows the size and builds sprop-parameter-sets; reports a size change", () => {
    const sets = new H264ParameterSets();
    expect(sets.spropParameterSets).toBeUndefined();
    expect(sets.push(hex("419a0000"))).toBe(false); // a P slice changes nothing
    expect(sets.push(stapA(SPS.baseline640x360, pps))).toBe(true);
    expect(sets.size).toMatchObject({ width: 640, height: 360 });
    expect(sets.spropParameterSets).toBe(`${Buffer.from(hex(SPS.baseline640x360)).toString("base64")},${Buffer.from(hex(pps)).toString("base64")}`);
    expect(sets.push(stapA(SPS.baseline640x360, pps))).toBe(false);
    expect(sets.push(hex(SPS.high1920x1080))).toBe(true);
    expect(sets.size).toMatchObject({ width: 1920, height: 1080 });
  });
});

describe("parseVp8KeyframeSize", () => {
  // The first 10 bytes of a libvpx 640x360 key frame, behind RTP payload descriptors.
  const frame = "909c009d012a80026801";
  it("reads the 14-bit sizes after the start code, with or without descriptor extensions", () => {
    expect(parseVp8KeyframeSize(hex(`10${frame}`))).toEqual({ width: 640, height: 360 });
    // X=1, I=1 with a 15-bit PictureID.
    expect(parseVp8KeyframeSize(hex(`9080${"8123"}${frame}`))).toEqual({ width: 640, height: 360 });
  });

  it("not for inter frames, continuation packets or a missing start code", () => {
    expect(parseVp8KeyframeSize(hex(`10${"919c00"}9d012a80026801`))).toBeUndefined(); // P bit set
    expect(parseVp8KeyframeSize(hex(`00${frame}`))).toBeUndefined(); // S=0
    expect(parseVp8KeyframeSize(hex(`10909c00000000800268`))).toBeUndefined();
    expect(parseVp8KeyframeSize(hex("10909c"))).toBeUndefined();
  });
});
