// Real encoded media (ffmpeg: libvpx, libaom, x264, x265, libopus) packetized the way senders do, put through loss,
// reordering, duplicates and wrap-around, recorded by the pure pipeline, and decoded again by ffmpeg: every written
// frame must decode to exactly the picture or sound the encoder made.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AnnexBWriter } from "../../../src/media/container/annexb.ts";
import { IvfWriter, type IvfFourcc } from "../../../src/media/container/ivf.ts";
import { OggOpusWriter } from "../../../src/media/container/ogg.ts";
import { applyOps } from "../../../src/media/container/ops.ts";
import { Av1Format } from "../../../src/media/depacketize/av1.ts";
import type { VideoPayloadFormat } from "../../../src/media/depacketize/format.ts";
import { H264Format } from "../../../src/media/depacketize/h264.ts";
import { H265Format } from "../../../src/media/depacketize/h265.ts";
import { OpusDepacketizer } from "../../../src/media/depacketize/opus.ts";
import { VideoDepacketizer } from "../../../src/media/depacketize/video.ts";
import { Vp8Format } from "../../../src/media/depacketize/vp8.ts";
import { Vp9Format } from "../../../src/media/depacketize/vp9.ts";
import { decodedHashes, encodedSource, ffprobe, h264AccessUnits, h265AccessUnits, readIvf, readOgg, readSource, splitAnnexB } from "../../media/files.ts";
import { packetizeAv1, packetizeH264, packetizeH265, packetizeVp8, packetizeVp9, toRtp, type TestRtp } from "../../media/packetize.ts";

const dir = mkdtempSync(join(tmpdir(), "roomcast-roundtrip-"));

type Kind = "vp8" | "vp9" | "vp9-flexible" | "av1" | "h264" | "h265";
const annexB = (kind: Kind) => kind === "h264" || kind === "h265";

interface Source {
  file: string;
  frames: { payloads: Buffer[]; timestamp: number }[];
}

const TS0 = 0xffffffff - 20 * 3000; // the timestamp wraps after 20 frames
const SEQ0 = 65535 - 40; // the sequence number wraps within the first frames

async function source(kind: Kind): Promise<Source> {
  if (kind === "h264") {
    const file = await encodedSource("h264", 2);
    const aus = h264AccessUnits(splitAnnexB(readSource(file)));
    return { file, frames: aus.map((nals, i) => ({ payloads: packetizeH264(nals, 600), timestamp: (TS0 + i * 3000) >>> 0 })) };
  }
  if (kind === "h265") {
    const file = await encodedSource("h265", 2);
    const aus = h265AccessUnits(splitAnnexB(readSource(file)));
    return { file, frames: aus.map((nals, i) => ({ payloads: packetizeH265(nals, 600), timestamp: (TS0 + i * 3000) >>> 0 })) };
  }
  const file = await encodedSource(kind === "vp9-flexible" ? "vp9" : kind, 2);
  const ivf = readIvf(readSource(file));
  const frames = ivf.frames.map((f, i) => {
    const keyframe = i % 30 === 0;
    const payloads =
      kind === "vp8"
        ? packetizeVp8(f.data, i, 600)
        : kind === "av1"
          ? packetizeAv1(f.data, { mtu: 600, newSequence: keyframe, lastWithoutLength: i % 2 === 0 })
          : packetizeVp9(f.data, { pictureId: i, keyframe, width: ivf.width, height: ivf.height, flexible: kind === "vp9-flexible", mtu: 600 });
    return { payloads, timestamp: (TS0 + i * 3000) >>> 0 };
  });
  return { file, frames };
}

function formatFor(kind: Kind): { format: VideoPayloadFormat; fourcc?: IvfFourcc } {
  if (kind === "vp8") return { format: new Vp8Format(), fourcc: "VP80" };
  if (kind === "av1") return { format: new Av1Format(), fourcc: "AV01" };
  if (kind === "h264") return { format: new H264Format() };
  if (kind === "h265") return { format: new H265Format() };
  return { format: new Vp9Format(), fourcc: "VP90" };
}

/** Swaps neighbours every 7 packets and repeats every 11th: what a jittery path with retransmissions delivers. */
function jitter(packets: TestRtp[]): TestRtp[] {
  const out = [...packets];
  for (let i = 3; i + 1 < out.length; i += 7) [out[i], out[i + 1]] = [out[i + 1] as TestRtp, out[i] as TestRtp];
  return out.flatMap((p, i) => (i % 11 === 5 ? [p, p] : [p]));
}

function record(kind: Kind, packets: TestRtp[], name: string) {
  const { format, fourcc } = formatFor(kind);
  const d = new VideoDepacketizer<TestRtp>(format, { clockRate: 90000 });
  const ivf = fourcc ? new IvfWriter({ fourcc }) : undefined;
  const annexb = new AnnexBWriter();
  let file: Buffer = Buffer.alloc(0);
  let requests = 0;
  const take = (outs: ReturnType<typeof d.processInput>) => {
    for (const o of outs) {
      if (o.type === "keyframe_request") requests++;
      if (o.type === "frame") file = applyOps(file, ivf ? ivf.processInput(o.frame) : annexb.processInput(o.frame));
    }
  };
  for (const p of packets) take(d.processInput(p));
  take(d.flush());
  const path = join(dir, name);
  writeFileSync(path, file);
  return { path, stats: d.stats, requests, ivf: ivf ? readIvf(file) : undefined };
}

describe.each<Kind>(["vp8", "vp9", "vp9-flexible", "av1", "h264", "h265"])("%s round trip", (kind) => {
  it("records every frame exactly, through reordering, duplicates and both wrap points", async () => {
    const src = await source(kind);
    const r = record(kind, jitter(toRtp(src.frames, { seq: SEQ0 })), `${kind}.${annexB(kind) ? kind : "ivf"}`);
    expect(r.stats.frames).toBe(60);
    expect(r.stats.lostPackets).toBe(0);
    const [want, got] = await Promise.all([decodedHashes(src.file), decodedHashes(r.path)]);
    expect(got.errors).toBe("");
    expect(got.hashes).toEqual(want.hashes);
    if (r.ivf) {
      expect([r.ivf.width, r.ivf.height]).toEqual([320, 240]);
      expect(r.ivf.frames.map((f) => f.pts)).toEqual(src.frames.map((_, i) => i * 3000));
      const probe = await ffprobe(r.path);
      expect(Number(probe.format.duration)).toBeCloseTo(2, 2);
    }
  });

  it("drops the frames a lost packet breaks, until the next key frame, and everything written decodes", async () => {
    const src = await source(kind);
    const packets = toRtp(src.frames, { seq: SEQ0 });
    // Lose the first packet of frame 10; frames 10..29 cannot decode, frame 30 is the next key frame.
    const lostIndex = src.frames.slice(0, 10).reduce((n, f) => n + f.payloads.length, 0);
    const r = record(kind, packets.filter((_, i) => i !== lostIndex), `${kind}-loss.${annexB(kind) ? kind : "ivf"}`);
    expect(r.stats.frames).toBe(40);
    // A frame that fit in the one lost packet is never seen at all, so 19 drops are counted rather than 20.
    const singlePacket = (src.frames[10]?.payloads.length ?? 0) === 1;
    expect(r.stats.dropped.incomplete + r.stats.dropped.keyframe_wait).toBe(singlePacket ? 19 : 20);
    expect(r.requests).toBeGreaterThanOrEqual(2); // at the start and at the loss
    const [want, got] = await Promise.all([decodedHashes(src.file), decodedHashes(r.path)]);
    expect(got.errors).toBe("");
    expect(got.hashes).toEqual([...want.hashes.slice(0, 10), ...want.hashes.slice(30)]);
  });
});

describe("opus round trip", () => {
  async function run(drop: (i: number) => boolean) {
    const file = await encodedSource("opus", 2);
    const packets = readOgg(readSource(file)).packets.slice(2);
    const rtp = jitter(toRtp(packets.map((p, i) => ({ payloads: [p.data], timestamp: (0xffffffff - 40 * 960 + i * 960) >>> 0 })), { seq: SEQ0, marker: "none" }));
    const d = new OpusDepacketizer<TestRtp>();
    const w = new OggOpusWriter({ serial: 7 });
    let out: Buffer = Buffer.alloc(0);
    rtp.forEach((p, i) => {
      if (drop(i)) return;
      for (const a of d.processInput(p)) out = applyOps(out, w.processInput(a));
    });
    for (const a of d.flush()) out = applyOps(out, w.processInput(a));
    out = applyOps(out, w.finish());
    const path = join(dir, `opus-${Math.random().toString(36).slice(2)}.ogg`);
    writeFileSync(path, out);
    return { file, path, packets, writer: w, stats: d.stats };
  }

  it("keeps every packet and the source's exact length and channels", async () => {
    const r = await run(() => false);
    expect(r.writer.packets).toBe(r.packets.length);
    const [want, got] = await Promise.all([decodedHashes(r.file), decodedHashes(r.path)]);
    expect(got.errors).toBe("");
    expect(got.hashes.length).toBe(want.hashes.length);
    const probe = await ffprobe(r.path);
    expect(probe.streams[0]).toMatchObject({ codec_name: "opus", channels: 2, sample_rate: "48000" });
    expect(Number(probe.format.duration)).toBeCloseTo((r.packets.length * 960) / 48000, 2);
  });

  it("fills lost packets so the duration stays that of the source", async () => {
    const r = await run((i) => i % 10 === 4);
    expect(r.writer.filled).toBeGreaterThan(5);
    const got = await decodedHashes(r.path);
    expect(got.errors).toBe("");
    const probe = await ffprobe(r.path);
    expect(Number(probe.format.duration)).toBeCloseTo((r.packets.length * 960) / 48000, 2);
  });
});
