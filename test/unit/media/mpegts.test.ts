// The MPEG-TS wrapper the H265 remux hands to ffmpeg: well-formed packets, and times ffmpeg reads back exactly.
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { crc32Mpeg, MpegTsWriter, TS_VIDEO_PID } from "../../../src/media/container/mpegts.ts";
import { encodedSource, h265AccessUnits, readSource, splitAnnexB } from "../../media/files.ts";

describe("MpegTsWriter", () => {
  it("CRC-32/MPEG-2 gives the catalogue check value", () => {
    expect(crc32Mpeg(Buffer.from("123456789"))).toBe(0x0376e6e7);
  });

  it("writes 188-byte packets with sync bytes, PUSI on each frame's first, continuity counting 0..15", () => {
    const w = new MpegTsWriter("h265");
    const out = Buffer.concat([w.header(), w.frame(Buffer.alloc(1000, 1), 0), w.frame(Buffer.alloc(10, 2), 3000), w.frame(Buffer.alloc(184 * 3), 6000)]);
    expect(out.length % 188).toBe(0);
    const packets = Array.from({ length: out.length / 188 }, (_, i) => out.subarray(i * 188, i * 188 + 188));
    expect(packets.every((p) => p[0] === 0x47)).toBe(true);
    const video = packets.filter((p) => (((p[1] as number) & 0x1f) << 8 | (p[2] as number)) === TS_VIDEO_PID);
    expect(video.map((p) => (p[3] as number) & 0x0f)).toEqual(video.map((_, i) => i % 16));
    expect(video.filter((p) => ((p[1] as number) & 0x40) !== 0)).toHaveLength(3);
  });

  it("ffmpeg reads every H265 access unit back at its time, across a gap and past 2^32 ticks", async () => {
    const aus = h265AccessUnits(splitAnnexB(readSource(await encodedSource("h265", 2))));
    const w = new MpegTsWriter("h265");
    const base = 2 ** 32 - 30 * 3000; // the 32-bit RTP range ends mid-clip; PTS has 33 bits
    const times = aus.map((_, i) => base + i * 3000 + (i >= 40 ? 45_000 : 0));
    const file = join(mkdtempSync(join(tmpdir(), "roomcast-ts-")), "t.ts");
    writeFileSync(file, Buffer.concat([w.header(), ...aus.map((au, i) => w.frame(Buffer.concat(au.flatMap((n) => [Buffer.from([0, 0, 0, 1]), n])), times[i] as number))]));
    const csv = execFileSync("ffprobe", ["-v", "error", "-select_streams", "v", "-show_entries", "packet=pts", "-of", "csv=p=0", file], { encoding: "utf8" });
    const pts = csv.split("\n").map((l) => l.replace(/,+$/, "").trim()).filter((l) => l !== "").map(Number);
    expect(pts).toEqual(times);
  });
});
