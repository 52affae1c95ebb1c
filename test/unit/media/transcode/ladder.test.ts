import { describe, expect, it } from "vitest";
import { defaultBitrateKbps, fitLadder, formatLadder, LadderError, MAX_RUNGS, parseLadder } from "../../../../src/media/transcode/ladder.ts";

describe("parseLadder", () => {
  it("reads rungs with k and M bitrates, tallest first", () => {
    expect(parseLadder("240p:400k,720p:2.5M,480p:1200K")).toEqual([
      { name: "720p", height: 720, bitrateKbps: 2500 },
      { name: "480p", height: 480, bitrateKbps: 1200 },
      { name: "240p", height: 240, bitrateKbps: 400 },
    ]);
  });

  it("tolerates spaces and a capital P; a rung without a bitrate gets the table's", () => {
    expect(parseLadder(" 360P : 800k , 180p ")).toEqual([
      { name: "360p", height: 360, bitrateKbps: 800 },
      { name: "180p", height: 180, bitrateKbps: 250 },
    ]);
  });

  it("empty, off and none are the empty ladder (a room opting out)", () => {
    expect(parseLadder("")).toEqual([]);
    expect(parseLadder("  ")).toEqual([]);
    expect(parseLadder("off")).toEqual([]);
    expect(parseLadder("NONE")).toEqual([]);
  });

  it.each([
    ["720", /not a rung/],
    ["720p:2500", /bitrate must look like 800k/],
    ["720p:fast", /bitrate must look like/],
    ["720p:2500k,720p:1000k", /720p is in the ladder twice/],
    ["361p:800k", /height must be even/],
    ["64p:100k", /height must be between 72 and 4320/],
    ["9000p:1M", /not a rung|height must be between/],
    ["360p:10k", /bitrate must be between 30k and 100M/],
    ["360p:200M", /bitrate must be between/],
    ["360p:800k,", /"" is not a rung/],
  ])("refuses %j", (text, message) => {
    expect(() => parseLadder(text)).toThrow(LadderError);
    expect(() => parseLadder(text)).toThrow(message);
  });

  it(`refuses more than ${MAX_RUNGS} rungs`, () => {
    expect(() => parseLadder("1080p,900p,720p,540p,480p,360p,240p")).toThrow(/at most 6 rungs/);
  });

  it("formats back to the canonical text", () => {
    expect(formatLadder(parseLadder("240p:400k,720p:2.5M,1080p:5000k"))).toBe("1080p:5M,720p:2500k,240p:400k");
    expect(formatLadder([])).toBe("");
  });

  it("default bitrates: the table, and pixel-count scaling between its rows", () => {
    expect(defaultBitrateKbps(720)).toBe(2500);
    expect(defaultBitrateKbps(144)).toBe(200);
    // 288p scales from 360p's 800k by (288/360)^2.
    expect(defaultBitrateKbps(288)).toBe(510);
    expect(defaultBitrateKbps(100)).toBe(100);
  });
});

describe("fitLadder", () => {
  const ladder = parseLadder("1080p:4500k,720p:2500k,360p:800k,180p:250k");

  it("never a rung above the source's height; equal is kept; widths keep the aspect ratio and are even", () => {
    expect(fitLadder(ladder, { width: 1280, height: 720 })).toEqual([
      { name: "720p", height: 720, bitrateKbps: 2500, width: 1280 },
      { name: "360p", height: 360, bitrateKbps: 800, width: 640 },
      { name: "180p", height: 180, bitrateKbps: 250, width: 320 },
    ]);
  });

  it("odd aspect ratios round to even widths (854x480 → 640x360 is 640, 4:3 at 180 is 240)", () => {
    expect(fitLadder(parseLadder("360p"), { width: 854, height: 480 })[0]?.width).toBe(640);
    expect(fitLadder(parseLadder("180p"), { width: 640, height: 480 })[0]?.width).toBe(240);
    // Portrait: heights are still heights.
    expect(fitLadder(parseLadder("720p"), { width: 720, height: 1280 })[0]).toMatchObject({ width: 406, height: 720 });
  });

  it("a source below every rung gets nothing; a nonsense size gets nothing", () => {
    expect(fitLadder(parseLadder("720p,480p"), { width: 320, height: 240 })).toEqual([]);
    expect(fitLadder(ladder, { width: 0, height: 0 })).toEqual([]);
  });
});
