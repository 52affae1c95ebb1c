// IVF and Ogg Opus writers, byte for byte against files laid out here by hand from the specs.
import { describe, expect, it } from "vitest";
import { AnnexBWriter, FrameIndex } from "../../../src/media/container/annexb.ts";
import { IvfWriter } from "../../../src/media/container/ivf.ts";
import { oggCrc, OggOpusWriter, oggPage, opusHead, opusTags } from "../../../src/media/container/ogg.ts";
import { applyOps } from "../../../src/media/container/ops.ts";
import { opusPacketSamples } from "../../../src/media/depacketize/opus.ts";
import { readOgg } from "../../media/files.ts";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");
const B = (...bytes: number[]) => Buffer.from(bytes);

describe("IvfWriter", () => {
  it("writes the 32-byte header, 12-byte frame headers and the length after every frame", () => {
    const w = new IvfWriter({ fourcc: "VP80" });
    const key = B(0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00, 0xaa, 0xbb);
    const inter = B(0x31, 0x02, 0x00, 0x01, 0x02);
    let file: Buffer = applyOps(Buffer.alloc(0), w.processInput({ data: key, timestamp: 4_294_967_000, width: 320, height: 240 }));
    const afterOne = Buffer.from(file);
    file = applyOps(file, w.processInput({ data: inter, timestamp: 4_294_967_000 + 3000 }));
    expect(file).toEqual(
      Buffer.concat([
        // DKIF, version 0, header 32, VP80, 320x240, rate 90000, scale 1, length 6000 (2 frames × 3000), unused
        hex("444b4946 0000 2000 56503830 4001 f000 905f0100 01000000 70170000 00000000"),
        hex("0c000000 0000000000000000"),
        key,
        hex("05000000 b80b000000000000"),
        inter,
      ]),
    );
    // After one frame the file was whole too, with length 0.
    expect(afterOne.readUInt32LE(24)).toBe(0);
    expect(afterOne.length).toBe(32 + 12 + key.length);
    expect([w.frames, w.bytes]).toEqual([2, file.length]);
  });

  it("keeps 64-bit pts beyond 2^32 ticks", () => {
    const w = new IvfWriter({ fourcc: "AV01" });
    w.processInput({ data: B(1), timestamp: 0 });
    const ops = w.processInput({ data: B(2), timestamp: 2 ** 33 + 5 });
    const rec = ops[0]?.data as Buffer;
    expect(Buffer.from(rec).readBigUInt64LE(4)).toBe(2n ** 33n + 5n);
    // The length field saturates rather than wrapping.
    expect(Buffer.from(ops[1]?.data as Uint8Array).readUInt32LE(0)).toBe(0xffffffff);
  });
});

describe("AnnexBWriter", () => {
  it("appends access units and indexes them for the remux", () => {
    const w = new AnnexBWriter();
    w.processInput({ data: B(0, 0, 0, 1, 0x65, 1), timestamp: 10 });
    w.processInput({ data: B(0, 0, 0, 1, 0x41), timestamp: 3010 });
    expect(w.index.at(1)).toEqual({ offset: 6, size: 5, timestamp: 3010 });
    expect([w.frames, w.bytes]).toEqual([2, 11]);
  });

  it("stops indexing at its limit instead of growing without bound", () => {
    const index = new FrameIndex(3);
    for (let i = 0; i < 2000; i++) index.push(i, 1, i);
    expect(index.length).toBe(3);
    expect(index.overflowed).toBe(true);
  });
});

describe("Ogg Opus", () => {
  it("computes Ogg's CRC-32 (poly 0x04c11db7, no reflection)", () => {
    expect(oggCrc(Buffer.from("123456789"))).toBe(0x89a1897f);
    expect(oggCrc(Buffer.alloc(0))).toBe(0);
  });

  it("writes OpusHead and OpusTags as RFC 7845 lays them out", () => {
    expect(opusHead(2, 312)).toEqual(hex("4f707573486561640102380180bb00000000 00"));
    expect(opusTags("roomcast")).toEqual(Buffer.concat([Buffer.from("OpusTags"), hex("08000000"), Buffer.from("roomcast"), hex("00000000")]));
  });

  it("lays out a page: header, lacing values (255s for long packets), body, CRC over it all", () => {
    const long = Buffer.alloc(300, 7);
    const page = oggPage({ serial: 0x01020304, sequence: 5, granule: 1920n, flags: 0x04, packets: [B(0xfc, 1), long] });
    const expected = Buffer.concat([
      Buffer.from("OggS"),
      B(0, 0x04),
      hex("8007000000000000"), // granule 1920
      hex("04030201"), // serial
      hex("05000000"), // sequence
      hex("00000000"), // CRC, filled below
      B(3, 2, 255, 45),
      B(0xfc, 1),
      long,
    ]);
    expected.writeUInt32LE(oggCrc(expected), 22);
    expect(page).toEqual(expected);
  });

  const packet = (toc: number, n: number) => Buffer.from([toc, ...Array.from({ length: n }, (_, i) => i & 0xff)]);
  // TOC 0xfc: CELT fullband 20 ms, stereo, one frame.
  const p20 = (n: number) => packet(0xfc, n);

  it("emits head and tags pages, then closes a page every N packets with the right granule", () => {
    const w = new OggOpusWriter({ serial: 42, packetsPerPage: 2 });
    let file: Buffer = Buffer.alloc(0);
    for (let i = 0; i < 5; i++) file = applyOps(file, w.processInput({ payload: p20(10 + i), timestamp: 1000 + i * 960 }));
    file = applyOps(file, w.finish());
    const expected = Buffer.concat([
      oggPage({ serial: 42, sequence: 0, granule: 0n, flags: 0x02, packets: [opusHead(2, 312)] }),
      oggPage({ serial: 42, sequence: 1, granule: 0n, flags: 0, packets: [opusTags("roomcast")] }),
      oggPage({ serial: 42, sequence: 2, granule: 1920n, flags: 0, packets: [p20(10), p20(11)] }),
      oggPage({ serial: 42, sequence: 3, granule: 3840n, flags: 0, packets: [p20(12), p20(13)] }),
      oggPage({ serial: 42, sequence: 4, granule: 4800n, flags: 0x04, packets: [p20(14)] }),
    ]);
    expect(file).toEqual(expected);
    expect(w.durationSamples).toBe(4800 - 312);
  });

  it("fills timestamp gaps with empty CELT frames so the timeline keeps its length", () => {
    const w = new OggOpusWriter({ serial: 1, packetsPerPage: 100, channels: 1 });
    let file: Buffer = Buffer.alloc(0);
    file = applyOps(file, w.processInput({ payload: packet(0x78, 5), timestamp: 0 })); // SILK WB 20 ms mono
    // 20 ms + 10 ms + 2.5 ms missing (a lost packet plus odd sizes).
    file = applyOps(file, w.processInput({ payload: packet(0x78, 5), timestamp: 960 + 960 + 480 + 120 }));
    file = applyOps(file, w.finish());
    const { packets } = readOgg(file);
    const audio = packets.slice(2).map((p) => p.data);
    expect(audio).toEqual([packet(0x78, 5), B(0xf8), B(0xf0), B(0xe0), packet(0x78, 5)]);
    expect(w.filled).toBe(3);
    expect(packets[packets.length - 1]?.granule).toBe(BigInt(960 + 960 + 480 + 120 + 960));
  });

  it("does not fill a jump of minutes: the clock restarts there instead", () => {
    const w = new OggOpusWriter({ serial: 1, maxGapFill: 48000 });
    w.processInput({ payload: p20(3), timestamp: 0 });
    w.processInput({ payload: p20(3), timestamp: 48000 * 3600 });
    expect(w.filled).toBe(0);
    expect(w.durationSamples).toBe(1920 - 312);
  });

  it("picks the channel count from the first packet unless told", () => {
    const mono = new OggOpusWriter({ serial: 1 });
    const ops = mono.processInput({ payload: packet(0x78, 3), timestamp: 0 });
    expect(readOgg(Buffer.from(ops[0]?.data as Uint8Array)).packets[0]?.data[9]).toBe(1);
    expect(mono.channels).toBe(1);
    const forced = new OggOpusWriter({ serial: 1, channels: 2 });
    forced.processInput({ payload: packet(0x78, 3), timestamp: 0 });
    expect(forced.channels).toBe(2);
  });

  it("ends with an empty end-of-stream page when nothing is pending", () => {
    const w = new OggOpusWriter({ serial: 9, packetsPerPage: 1 });
    let file: Buffer = applyOps(Buffer.alloc(0), w.processInput({ payload: p20(4), timestamp: 0 }));
    file = applyOps(file, w.finish());
    const { pages } = readOgg(file);
    expect(pages.map((p) => [p.flags, p.granule, p.segments.length])).toEqual([
      [2, 0n, 1],
      [0, 0n, 1],
      [0, 960n, 1],
      [4, 960n, 0],
    ]);
    expect(w.finish()).toEqual([]);
    // Every page's CRC checks out.
    for (const p of readOgg(file).pages) expect(p.crc).not.toBe(0);
  });

  it("counts samples per TOC configuration and frame count code", () => {
    expect(opusPacketSamples(B(0xfc))).toBe(960);
    expect(opusPacketSamples(B(0x78 | 1))).toBe(1920); // code 1: two frames
    expect(opusPacketSamples(B(0x18 | 3, 0x02))).toBe(2 * 2880); // code 3: SILK NB 60 ms × 2
    expect(opusPacketSamples(B(0x18 | 3, 0x03))).toBeUndefined(); // 180 ms: over the 120 ms limit
    expect(opusPacketSamples(B())).toBeUndefined();
  });
});
