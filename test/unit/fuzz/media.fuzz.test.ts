// Property-based tests of what the recorder does with a publisher's RTP (issue 14): every depacketizer and every
// container takes any packet stream (reordered, lost, duplicated, restarted, garbage payloads, wild timestamps)
// without throwing, within a per-packet time budget, and the files they write stay well-formed.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { AnnexBWriter } from "../../../src/media/container/annexb.ts";
import { IVF_FRAME_HEADER_SIZE, IvfWriter, type IvfFourcc } from "../../../src/media/container/ivf.ts";
import { oggCrc, OggOpusWriter } from "../../../src/media/container/ogg.ts";
import type { WriteOp } from "../../../src/media/container/ops.ts";
import { Av1Format, parseAv1Aggregation, parseAv1SequenceHeader } from "../../../src/media/depacketize/av1.ts";
import type { VideoPayloadFormat } from "../../../src/media/depacketize/format.ts";
import { h264IsKeyframeStart, walkStapA } from "../../../src/media/codec/h264.ts";
import { isKeyframeStart } from "../../../src/media/codec/keyframe.ts";
import { vp8DescriptorLength, vp8IsFrameStart, vp8KeyframeSize } from "../../../src/media/codec/vp8.ts";
import { H264Format } from "../../../src/media/depacketize/h264.ts";
import { H265Format, h265NalUnits, h265ParameterSetsFromFmtp } from "../../../src/media/depacketize/h265.ts";
import { OpusDepacketizer, opusIsStereo, opusPacketSamples } from "../../../src/media/depacketize/opus.ts";
import { VideoDepacketizer } from "../../../src/media/depacketize/video.ts";
import { Vp8Format } from "../../../src/media/depacketize/vp8.ts";
import { parseVp9Descriptor, parseVp9FrameHeader, Vp9Format } from "../../../src/media/depacketize/vp9.ts";
import { h264PayloadNals, parseH264Sps } from "../../../src/media/transcode/sourceFormat.ts";
import { encodedSource, h264AccessUnits, h265AccessUnits, readIvf, readOgg, readSource, splitAnnexB } from "../../media/files.ts";
import { packetizeAv1, packetizeH264, packetizeH265, packetizeVp8, packetizeVp9, toRtp } from "../../media/packetize.ts";
import { FUZZ_RUNS, TimeBudget } from "./budget.ts";

interface Packet {
  header: { sequenceNumber: number; timestamp: number; marker: boolean; ssrc: number };
  payload: Uint8Array;
}

/** A payload whose first bytes look like the codec's descriptor often enough to reach the assemblers. */
const payload = fc.oneof(
  fc.uint8Array({ maxLength: 1200 }),
  fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 3 }), fc.uint8Array({ maxLength: 300 })).map(([head, rest]) => Uint8Array.from([...head, ...rest])),
  fc.constantFrom(Uint8Array.of(0x10, 0x00), Uint8Array.of(0x90, 0x80, 0x01, 0x10), Uint8Array.of(0x7c, 0x85), Uint8Array.of(0x18, 0x00, 0x05), Uint8Array.of(0x08, 0x0a, 0x00)),
);

/** Packet streams as networks and broken or hostile senders make them. */
const stream = fc
  .record({
    seq: fc.integer({ min: 0, max: 0xffff }),
    ts: fc.integer({ min: 0, max: 0xffffffff }),
    steps: fc.array(
      fc.record({
        seq: fc.oneof({ weight: 10, arbitrary: fc.constant(1) }, fc.integer({ min: -70, max: 70 }), fc.integer({ min: -0xffff, max: 0xffff })),
        ts: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, fc.constantFrom(960, 3000, 3003), fc.integer({ min: 0, max: 0xffffffff })),
        marker: fc.boolean(),
        newSsrc: fc.oneof({ weight: 30, arbitrary: fc.constant(false) }, fc.constant(true)),
        payload,
      }),
      { maxLength: 200 },
    ),
  })
  .map(({ seq, ts, steps }) => {
    let s = seq;
    let t = ts;
    let ssrc = 0x1234;
    return steps.map((st): Packet => {
      s = (s + st.seq) & 0xffff;
      t = (t + st.ts) >>> 0;
      if (st.newSsrc) ssrc = (ssrc + 1) >>> 0;
      return { header: { sequenceNumber: s, timestamp: t, marker: st.marker, ssrc }, payload: st.payload };
    });
  });

type Codec = "VP8" | "VP9" | "AV1" | "H264" | "H265" | "Opus";
const IVF_HEADER_SIZE = 32;

/** Two seconds of real encoded media per codec (ffmpeg, cached), packetized as senders do. */
const real = new Map<Codec, Packet[]>();

beforeAll(async () => {
  for (const codec of ["VP8", "VP9", "AV1"] as const) {
    const ivf = readIvf(readSource(await encodedSource(codec === "VP8" ? "vp8" : codec === "VP9" ? "vp9" : "av1", 2)));
    const frames = ivf.frames.map((f, i) => {
      const keyframe = i % 30 === 0;
      const payloads =
        codec === "VP8"
          ? packetizeVp8(f.data, i, 500)
          : codec === "AV1"
            ? packetizeAv1(f.data, { mtu: 500, newSequence: keyframe })
            : packetizeVp9(f.data, { pictureId: i, keyframe, width: ivf.width, height: ivf.height, mtu: 500 });
      return { payloads, timestamp: i * 3000 };
    });
    real.set(codec, toRtp(frames));
  }
  const aus = h264AccessUnits(splitAnnexB(readSource(await encodedSource("h264", 2))));
  real.set("H264", toRtp(aus.map((nals, i) => ({ payloads: packetizeH264(nals, 500), timestamp: i * 3000 }))));
  const hevc = h265AccessUnits(splitAnnexB(readSource(await encodedSource("h265", 2))));
  real.set("H265", toRtp(hevc.map((nals, i) => ({ payloads: packetizeH265(nals, 500), timestamp: i * 3000 }))));
  const opus = readOgg(readSource(await encodedSource("opus", 2))).packets.slice(2);
  real.set("Opus", toRtp(opus.map((p, i) => ({ payloads: [p.data], timestamp: i * 960 }))));
}, 120_000);

/** What a network and a broken or hostile sender do to a real stream. */
type Damage =
  | { op: "drop" | "duplicate"; at: number }
  | { op: "swap"; at: number; with: number }
  | { op: "corrupt"; at: number; byte: number; value: number }
  | { op: "truncate"; at: number; length: number }
  | { op: "timestamp"; at: number; value: number }
  | { op: "sequence"; at: number; value: number }
  | { op: "ssrc"; at: number };

const damage: fc.Arbitrary<Damage> = fc.oneof(
  fc.record({ op: fc.constantFrom("drop" as const, "duplicate" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("swap" as const), at: fc.nat(), with: fc.nat() }),
  fc.record({ op: fc.constant("corrupt" as const), at: fc.nat(), byte: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant("truncate" as const), at: fc.nat(), length: fc.nat({ max: 20 }) }),
  fc.record({ op: fc.constant("timestamp" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 0xffffffff }) }),
  fc.record({ op: fc.constant("sequence" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 0xffff }) }),
  fc.record({ op: fc.constant("ssrc" as const), at: fc.nat() }),
);

/** A window of a real stream with damage done to it; packets are copied before they are changed. */
function damaged(codec: Codec): fc.Arbitrary<Packet[]> {
  return fc.tuple(fc.nat(), fc.integer({ min: 1, max: 300 }), fc.array(damage, { maxLength: 25 })).map(([start, length, ops]) => {
    const all = real.get(codec) ?? [];
    const from = all.length === 0 ? 0 : start % all.length;
    const out = all.slice(from, from + length).map((p) => ({ header: { ...p.header }, payload: p.payload }));
    for (const d of ops) {
      const n = out.length;
      if (n === 0) break;
      const at = d.at % n;
      const p = out[at] as Packet;
      if (d.op === "drop") out.splice(at, 1);
      else if (d.op === "duplicate") out.splice(at, 0, { header: { ...p.header }, payload: p.payload });
      else if (d.op === "swap") [out[at], out[d.with % n]] = [out[d.with % n] as Packet, p];
      else if (d.op === "corrupt" && p.payload.length > 0) {
        const copy = Uint8Array.from(p.payload);
        copy[d.byte % copy.length] = d.value;
        p.payload = copy;
      } else if (d.op === "truncate") p.payload = p.payload.subarray(0, d.length);
      else if (d.op === "timestamp") p.header.timestamp = d.value;
      else if (d.op === "sequence") p.header.sequenceNumber = d.value;
      else if (d.op === "ssrc") for (const q of out.slice(at)) q.header.ssrc = (q.header.ssrc + 1) >>> 0;
    }
    return out;
  });
}

/** Applies ops like a file would; a patch past the end is a bug in the writer. */
class MemoryFile {
  #bytes = Buffer.alloc(1 << 16);
  #length = 0;
  apply(ops: readonly WriteOp[]): void {
    for (const op of ops) {
      if (op.type === "append") {
        if (this.#length + op.data.length > this.#bytes.length) {
          const grown = Buffer.alloc(Math.max(this.#bytes.length * 2, this.#length + op.data.length));
          this.#bytes.copy(grown, 0, 0, this.#length);
          this.#bytes = grown;
        }
        this.#bytes.set(op.data, this.#length);
        this.#length += op.data.length;
      } else {
        expect(op.offset + op.data.length).toBeLessThanOrEqual(this.#length);
        this.#bytes.set(op.data, op.offset);
      }
    }
  }
  done(): Buffer {
    return this.#bytes.subarray(0, this.#length);
  }
}

/** IVF: a 32-byte header, then records whose sizes account for every byte. */
function ivfFrames(file: Buffer): number {
  if (file.length === 0) return 0;
  expect(file.subarray(0, 4).toString("latin1")).toBe("DKIF");
  let at = IVF_HEADER_SIZE;
  let frames = 0;
  while (at < file.length) {
    expect(at + IVF_FRAME_HEADER_SIZE).toBeLessThanOrEqual(file.length);
    at += IVF_FRAME_HEADER_SIZE + file.readUInt32LE(at);
    frames++;
  }
  expect(at).toBe(file.length);
  return frames;
}

/** Ogg: pages back to back, each with its capture pattern and a CRC that matches. */
function oggPages(file: Buffer): number {
  let at = 0;
  let pages = 0;
  while (at < file.length) {
    expect(file.subarray(at, at + 4).toString("latin1")).toBe("OggS");
    const segments = file[at + 26] as number;
    let body = 0;
    for (let i = 0; i < segments; i++) body += file[at + 27 + i] as number;
    const end = at + 27 + segments + body;
    expect(end).toBeLessThanOrEqual(file.length);
    const page = Buffer.from(file.subarray(at, end));
    const crc = page.readUInt32LE(22);
    page.writeUInt32LE(0, 22);
    expect(oggCrc(page)).toBe(crc);
    at = end;
    pages++;
  }
  return pages;
}

const VIDEO: [Exclude<Codec, "Opus">, () => VideoPayloadFormat, IvfFourcc | "annexb"][] = [
  ["VP8", () => new Vp8Format(), "VP80"],
  ["VP9", () => new Vp9Format(), "VP90"],
  ["AV1", () => new Av1Format(), "AV01"],
  ["H264", () => new H264Format(), "annexb"],
  ["H265", () => new H265Format(), "annexb"],
];

describe("video depacketizers and their containers under fuzzing", () => {
  it.each(VIDEO)("%s: any packet stream, no throw, each packet within the budget, a well-formed file", (_name, format, container) => {
    const budget = new TimeBudget(20);
    let written = 0;
    fc.assert(
      fc.property(fc.oneof({ weight: 3, arbitrary: damaged(_name) }, stream), (packets) => {
        const depacketizer = new VideoDepacketizer(format(), { clockRate: 90000 });
        const file = new MemoryFile();
        const ivf = container === "annexb" ? undefined : new IvfWriter({ fourcc: container });
        const annexb = container === "annexb" ? new AnnexBWriter() : undefined;
        let frames = 0;
        // Timed: the depacketizer and the container; the harness's own file keeping is not.
        const write = (outputs: ReturnType<typeof depacketizer.processInput>): WriteOp[] => {
          const ops: WriteOp[] = [];
          for (const o of outputs) {
            if (o.type !== "frame") continue;
            frames++;
            ops.push(...(ivf ? ivf.processInput(o.frame) : (annexb as AnnexBWriter).processInput(o.frame)));
          }
          return ops;
        };
        for (const p of packets) file.apply(budget.time(() => write(depacketizer.processInput(p))));
        file.apply(budget.time(() => write(depacketizer.flush())));
        const bytes = file.done();
        written += frames;
        if (ivf) expect(ivfFrames(bytes)).toBe(frames);
        else expect(bytes.length).toBe((annexb as AnnexBWriter).bytes);
      }),
      { numRuns: FUZZ_RUNS },
    );
    expect(budget.withinBudget, String(budget)).toBe(true);
    // Not vacuous: the streams reach the assemblers and the containers (FUZZ_RUNS=4000: 11-14k frames a codec).
    expect(written).toBeGreaterThan(0);
  });

  it("the payload readers take any bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), (bytes, payloads) => {
        vp8DescriptorLength(bytes);
        parseVp9Descriptor(bytes);
        parseVp9FrameHeader(bytes);
        parseAv1Aggregation(bytes);
        parseAv1SequenceHeader(bytes);
        vp8IsFrameStart(bytes);
        vp8KeyframeSize(bytes);
        walkStapA(bytes, () => true);
        h264IsKeyframeStart(bytes);
        h265NalUnits(payloads);
        h265ParameterSetsFromFmtp(new TextDecoder().decode(bytes));
        for (const codec of ["vp8", "vp9", "h264", "h265", "av1"] as const) isKeyframeStart(codec, bytes);
        h264PayloadNals(bytes);
        parseH264Sps(bytes);
        opusPacketSamples(bytes);
        opusIsStereo(bytes);
        for (const [, format] of VIDEO) {
          const f = format();
          f.isFrameStart(bytes);
          f.assemble(payloads);
        }
      }),
      { numRuns: FUZZ_RUNS * 3 },
    );
  });
});

describe("Opus depacketizer and Ogg writer under fuzzing", () => {
  it("any packet stream: no throw, each packet within the budget, every page with a valid CRC", () => {
    const budget = new TimeBudget(20);
    let pages = 0;
    let filled = 0;
    fc.assert(
      fc.property(fc.oneof({ weight: 3, arbitrary: damaged("Opus") }, stream), fc.constantFrom<1 | 2 | undefined>(1, 2, undefined), (packets, channels) => {
        const depacketizer = new OpusDepacketizer();
        const ogg = new OggOpusWriter({ serial: 7, channels });
        const file = new MemoryFile();
        // Arrival times as the recorder gives them: one packet each 20 ms of wall time.
        packets.forEach((p, i) => file.apply(budget.time(() => depacketizer.processInput(p).flatMap((a) => ogg.processInput(a, i * 20)))));
        const end = packets.length * 20;
        file.apply(budget.time(() => [...depacketizer.flush().flatMap((a) => ogg.processInput(a, end)), ...ogg.finish()]));
        // However the sender's clock runs, the file holds no more than the wall time (with 1 s slack a packet).
        expect(ogg.durationSamples).toBeLessThanOrEqual(48 * (end + 1000 * (packets.length + 1)) + 5760 * (packets.length + 1));
        const bytes = file.done();
        expect(bytes.length).toBe(ogg.bytes);
        pages += oggPages(bytes);
        filled += ogg.filled;
      }),
      { numRuns: FUZZ_RUNS },
    );
    expect(budget.withinBudget, String(budget)).toBe(true);
    expect(pages).toBeGreaterThan(0);
  });
});
