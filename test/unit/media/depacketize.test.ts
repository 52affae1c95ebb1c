// Depacketizers from synthetic RTP, byte for byte: what each payload format must turn into, built here by hand.
import { describe, expect, it } from "vitest";
import { Av1Format, parseAv1Aggregation, parseAv1SequenceHeader } from "../../../src/media/depacketize/av1.ts";
import { H264Format } from "../../../src/media/depacketize/h264.ts";
import { VideoDepacketizer, type VideoOutput } from "../../../src/media/depacketize/video.ts";
import { vp8DescriptorLength } from "../../../src/media/codec/vp8.ts";
import { Vp8Format } from "../../../src/media/depacketize/vp8.ts";
import { parseVp9Descriptor, parseVp9FrameHeader, Vp9Format } from "../../../src/media/depacketize/vp9.ts";
import { toRtp, type TestRtp } from "../../media/packetize.ts";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");
const B = (...bytes: number[]) => Buffer.from(bytes);

/** Packs bit fields (value, width) MSB first, zero-padded to whole bytes. */
function bits(fields: [number, number][]): Buffer {
  let str = "";
  for (const [v, n] of fields) str += v.toString(2).padStart(n, "0");
  while (str.length % 8) str += "0";
  return Buffer.from(str.match(/.{8}/g)?.map((b) => parseInt(b, 2)) ?? []);
}

function frames(outputs: VideoOutput[]) {
  return outputs.filter((o): o is Extract<VideoOutput, { type: "frame" }> => o.type === "frame").map((o) => o.frame);
}

function feed(d: VideoDepacketizer<TestRtp>, packets: TestRtp[]): VideoOutput[] {
  const out: VideoOutput[] = [];
  for (const p of packets) out.push(...d.processInput(p));
  out.push(...d.flush());
  return out;
}

// VP8 frames: a key frame (start code, 320x240) and inter frames (P bit set).
const VP8_KEY = hex("1002009d012a4001f000 aabbccddeeff00112233");
const VP8_INTER = (n: number) => Buffer.from([0x31, 0x02, 0x00, n, n, n]);
const vp8Desc = (start: boolean, pid: number) => B(0x80 | (start ? 0x10 : 0), 0x80, 0x80 | (pid >> 8), pid & 0xff);

describe("VP8 (RFC 7741)", () => {
  it("measures payload descriptors with and without extensions", () => {
    expect(vp8DescriptorLength(B(0x10, 0xaa))).toBe(1);
    expect(vp8DescriptorLength(B(0x90, 0x80, 0x05, 0xaa))).toBe(3); // 7-bit picture id
    expect(vp8DescriptorLength(B(0x90, 0x80, 0x81, 0x05, 0xaa))).toBe(4); // 15-bit picture id
    expect(vp8DescriptorLength(B(0x90, 0xf0, 0x81, 0x05, 0x07, 0x20, 0xaa))).toBe(6); // I, L, T, K
    expect(vp8DescriptorLength(B(0x90, 0x80, 0x81, 0x05))).toBeUndefined(); // descriptor but no payload
  });

  it("joins a key frame's partitions and reads its size", () => {
    const f = new Vp8Format();
    expect(f.isFrameStart(Buffer.concat([vp8Desc(true, 1), VP8_KEY.subarray(0, 4)]))).toBe(true);
    expect(f.isFrameStart(Buffer.concat([vp8Desc(false, 1), VP8_KEY.subarray(4)]))).toBe(false);
    const frame = f.assemble([Buffer.concat([vp8Desc(true, 1), VP8_KEY.subarray(0, 4)]), Buffer.concat([vp8Desc(false, 1), VP8_KEY.subarray(4)])]);
    expect(frame).toEqual({ data: VP8_KEY, keyframe: true, width: 320, height: 240 });
    expect(f.assemble([Buffer.concat([vp8Desc(true, 2), VP8_INTER(7)])])).toEqual({ data: VP8_INTER(7), keyframe: false });
  });
});

describe("VP9 (RFC 9628)", () => {
  it("parses non-flexible descriptors with layer indices and a scalability structure", () => {
    // I M=1, L, B, V: picture id 0x1234, TID/U/SID/D, TL0PICIDX, SS with Y (2 layers) and G (1 group, 1 ref).
    const p = B(0xaa, 0x92, 0x34, 0x02 << 1, 0x07, (1 << 5) | 0x18, 0x00, 0xa0, 0x00, 0x78, 0x01, 0x40, 0x00, 0xf0, 0x01, 0x04, 0x01, 0xee);
    const d = parseVp9Descriptor(p);
    expect(d).toEqual({ length: 17, predicted: false, begin: true, end: false, spatialId: 2, width: 320, height: 240 });
  });

  it("parses flexible-mode reference indices", () => {
    // I (7-bit), P, F, B, E: two P_DIFFs (N bit on the first).
    const d = parseVp9Descriptor(B(0xdc, 0x05, 0x03, 0x04, 0xee));
    expect(d).toMatchObject({ length: 4, predicted: true, begin: true, end: true });
    expect(parseVp9Descriptor(B(0xdc, 0x05, 0x03))).toBeUndefined();
  });

  const key = Buffer.concat([bits([[2, 2], [0, 1], [0, 1], [0, 1], [0, 1], [1, 1], [0, 1], [0x498342, 24], [0, 3], [0, 1], [319, 16], [239, 16]]), B(0xde, 0xad)]);
  const inter = B(0x86, 0x00, 0x11, 0x22);

  it("reads frame type and key-frame size from the uncompressed header", () => {
    expect(parseVp9FrameHeader(key)).toEqual({ keyframe: true, width: 320, height: 240 });
    expect(parseVp9FrameHeader(inter)).toEqual({ keyframe: false });
    expect(parseVp9FrameHeader(B(0x00))).toBeUndefined();
  });

  it("joins two spatial layers of one picture into a superframe with its index", () => {
    const f = new Vp9Format();
    const l0a = Buffer.concat([B(0x28, 0x00, 0x00), key.subarray(0, 5)]); // L, B; TID=0 SID=0; TL0PICIDX
    const l0b = Buffer.concat([B(0x24, 0x00, 0x00), key.subarray(5)]); // L, E
    const l1 = Buffer.concat([B(0x6c, 0x02, 0x00), inter]); // P, L, B, E; SID=1
    const frame = f.assemble([l0a, l0b, l1]);
    expect(frame?.keyframe).toBe(true);
    expect(frame?.data).toEqual(Buffer.concat([key, inter, B(0xc1, key.length, inter.length, 0xc1)]));
    expect([frame?.width, frame?.height]).toEqual([320, 240]);
    // A layer frame that never ends is malformed.
    expect(f.assemble([l0a, l1])).toBeUndefined();
  });
});

describe("AV1 RTP", () => {
  const seqHeaderPayload = bits([[0, 3], [1, 1], [1, 1], [0, 5], [15, 4], [15, 4], [319, 16], [239, 16]]);
  const seqObu = Buffer.concat([B(0x08), seqHeaderPayload]); // type 1, no size field
  const frameObu = Buffer.concat([B(0x30), B(0x10, 0xaa, 0xbb, 0xcc)]); // type 6 (frame), key (reduced header)
  const tdObu = B(0x10); // temporal delimiter: must not be repeated

  it("parses aggregation headers with W=0 and W=2", () => {
    const w0 = Buffer.concat([B(0x08, seqObu.length), seqObu, B(frameObu.length), frameObu]);
    expect(parseAv1Aggregation(w0)).toMatchObject({ z: false, y: false, n: true, elements: [seqObu, frameObu] });
    const w2 = Buffer.concat([B(0x20, seqObu.length), seqObu, frameObu]);
    expect(parseAv1Aggregation(w2)?.elements).toEqual([seqObu, frameObu]);
    expect(parseAv1Aggregation(B(0x20, 0x05, 0x01))).toBeUndefined();
  });

  it("reads the frame size from a sequence header", () => {
    expect(parseAv1SequenceHeader(seqHeaderPayload)).toEqual({ reducedStillPictureHeader: true, width: 320, height: 240 });
  });

  it("reassembles fragmented OBUs into a temporal unit with size fields and one temporal delimiter", () => {
    const f = new Av1Format();
    // First packet: N=1, Y=1, W=0: [TD][sequence header][first 2 bytes of the frame OBU]; second: Z=1, W=1.
    const first = Buffer.concat([B(0x40 | 0x08), B(tdObu.length), tdObu, B(seqObu.length), seqObu, B(2), frameObu.subarray(0, 2)]);
    const second = Buffer.concat([B(0x80 | 0x10), frameObu.subarray(2)]);
    expect(f.isFrameStart(first)).toBe(true);
    expect(f.isFrameStart(second)).toBe(false);
    const tu = f.assemble([first, second]);
    expect(tu).toEqual({
      data: Buffer.concat([B(0x12, 0x00), B(0x0a, seqHeaderPayload.length), seqHeaderPayload, B(0x32, 4), frameObu.subarray(1)]),
      keyframe: true,
      width: 320,
      height: 240,
    });
    // A continuation without the fragment it continues, or a fragment never finished, is malformed.
    expect(f.assemble([second])).toBeUndefined();
    expect(f.assemble([first])).toBeUndefined();
  });
});

describe("H264 (RFC 6184)", () => {
  const sps = hex("6742c01f da01");
  const pps = hex("68ce3c80");
  const idr = hex("6588840021ff0000aabbccdd");
  const slice = hex("419a0000112233");
  const sc = B(0, 0, 0, 1);
  const stap = (...nals: Buffer[]) => Buffer.concat([B(0x18), ...nals.flatMap((n) => [B(n.length >> 8, n.length & 0xff), n])]);
  const fu = (nal: Buffer, from: number, to: number, start: boolean, end: boolean) =>
    Buffer.concat([B(((nal[0] as number) & 0xe0) | 28, (start ? 0x80 : 0) | (end ? 0x40 : 0) | ((nal[0] as number) & 0x1f)), nal.subarray(from, to)]);

  it("reassembles STAP-A and FU-A into an Annex-B access unit", () => {
    const f = new H264Format();
    const au = f.assemble([stap(sps, pps), fu(idr, 1, 5, true, false), fu(idr, 5, 9, false, false), fu(idr, 9, idr.length, false, true)]);
    expect(au).toEqual({ data: Buffer.concat([sc, sps, sc, pps, sc, idr]), keyframe: true });
    expect(f.assemble([slice])).toEqual({ data: Buffer.concat([sc, slice]), keyframe: false });
  });

  it("puts the last SPS and PPS before an IDR that comes without them", () => {
    const f = new H264Format();
    expect(f.assemble([fu(idr, 1, 5, true, false), fu(idr, 5, idr.length, false, true)])?.keyframe).toBe(false); // none known yet
    f.assemble([stap(sps, pps), idr]);
    expect(f.assemble([idr])).toEqual({ data: Buffer.concat([sc, sps, sc, pps, sc, idr]), keyframe: true });
  });

  it("knows frame starts and refuses broken fragments and interleaved-mode packets", () => {
    const f = new H264Format();
    expect(f.isFrameStart(stap(sps, pps))).toBe(true);
    expect(f.isFrameStart(fu(idr, 1, 5, true, false))).toBe(true);
    expect(f.isFrameStart(fu(idr, 5, 9, false, false))).toBe(false);
    expect(f.assemble([fu(idr, 5, 9, false, true)])).toBeUndefined();
    expect(f.assemble([fu(idr, 1, 5, true, false)])).toBeUndefined();
    expect(f.assemble([B(0x19, 0, 0)])).toBeUndefined(); // STAP-B
    expect(f.assemble([B(0x18, 0x00, 0x09, 0x67)])).toBeUndefined(); // STAP-A size past the end
  });
});

describe("VideoDepacketizer", () => {
  /** VP8 frames: key at 0 and 4, 3 packets each; inter frames 2 packets. Timestamps 3000 apart from ts0. */
  function vp8Stream(ts0: number, count = 8) {
    return Array.from({ length: count }, (_, i) => {
      const data = i % 4 === 0 ? VP8_KEY : VP8_INTER(i);
      const parts = i % 4 === 0 ? [data.subarray(0, 6), data.subarray(6, 12), data.subarray(12)] : [data.subarray(0, 3), data.subarray(3)];
      return { payloads: parts.map((p, k) => Buffer.concat([vp8Desc(k === 0, i), p])), timestamp: ts0 + i * 3000, data };
    });
  }

  it("writes every frame when nothing is lost, and asks for a key frame only at the start", () => {
    const s = vp8Stream(1000);
    const d = new VideoDepacketizer<TestRtp>(new Vp8Format(), { clockRate: 90000 });
    const out = feed(d, toRtp(s));
    expect(frames(out).map((f) => f.data)).toEqual(s.map((f) => f.data));
    expect(frames(out).map((f) => f.timestamp)).toEqual(s.map((f) => f.timestamp));
    expect(out.filter((o) => o.type === "keyframe_request").length).toBe(1);
    expect(d.stats).toMatchObject({ frames: 8, keyframes: 2, lostPackets: 0 });
  });

  it("drops a frame with a lost packet, asks for a key frame and resumes at the next one", () => {
    const s = vp8Stream(1000);
    const rtp = toRtp(s);
    const lost = rtp.filter((_, i) => i !== 4); // the second packet of frame 1
    const d = new VideoDepacketizer<TestRtp>(new Vp8Format(), { clockRate: 90000 });
    const out = feed(d, lost);
    expect(frames(out).map((f) => f.timestamp)).toEqual([1000, 13000, 16000, 19000, 22000]);
    expect(d.stats.dropped).toEqual({ incomplete: 1, keyframe_wait: 2, malformed: 0 });
    expect(d.stats.lostPackets).toBe(1);
    const dropAt = out.findIndex((o) => o.type === "dropped" && o.reason === "incomplete");
    expect(out[dropAt + 1]).toEqual({ type: "keyframe_request" });
  });

  it("restores order within the window, so reordering loses nothing", () => {
    const s = vp8Stream(1000);
    const rtp = toRtp(s);
    const shuffled = [...rtp];
    [shuffled[3], shuffled[5]] = [shuffled[5] as TestRtp, shuffled[3] as TestRtp];
    [shuffled[10], shuffled[11]] = [shuffled[11] as TestRtp, shuffled[10] as TestRtp];
    const d = new VideoDepacketizer<TestRtp>(new Vp8Format(), { clockRate: 90000 });
    expect(frames(feed(d, shuffled)).map((f) => f.data)).toEqual(s.map((f) => f.data));
  });

  it("carries sequence numbers and timestamps across their wrap points", () => {
    const s = vp8Stream(0xffffffff - 7000);
    const d = new VideoDepacketizer<TestRtp>(new Vp8Format(), { clockRate: 90000 });
    const out = frames(feed(d, toRtp(s, { seq: 65530 })));
    expect(out.length).toBe(8);
    expect(out.map((f) => f.timestamp - (out[0] as { timestamp: number }).timestamp)).toEqual([0, 3000, 6000, 9000, 12000, 15000, 18000, 21000]);
  });

  it("ends frames at the next frame start when the sender sets no marker bit", () => {
    const s = vp8Stream(1000);
    const d = new VideoDepacketizer<TestRtp>(new Vp8Format(), { clockRate: 90000 });
    const out = frames(feed(d, toRtp(s, { marker: "none" })));
    // The last frame has nothing after it to prove it whole.
    expect(out.map((f) => f.data)).toEqual(s.slice(0, 7).map((f) => f.data));
  });

  it("joining mid-frame is waiting for a key frame, not loss", () => {
    const s = vp8Stream(1000);
    const d = new VideoDepacketizer<TestRtp>(new Vp8Format(), { clockRate: 90000 });
    feed(d, toRtp(s).slice(1));
    expect(d.stats.dropped).toEqual({ incomplete: 0, keyframe_wait: 4, malformed: 0 });
    expect(d.stats.frames).toBe(4);
  });

  it("asks again for a key frame every second of RTP time while waiting", () => {
    const inter = Array.from({ length: 100 }, (_, i) => ({ payloads: [Buffer.concat([vp8Desc(true, i), VP8_INTER(i)])], timestamp: i * 3000 }));
    const d = new VideoDepacketizer<TestRtp>(new Vp8Format(), { clockRate: 90000 });
    const out = feed(d, toRtp(inter));
    // 100 frames at 30 fps: 3.3 s, so requests at 0, 1, 2 and 3 s.
    expect(out.filter((o) => o.type === "keyframe_request").length).toBe(4);
    expect(d.stats.dropped.keyframe_wait).toBe(100);
  });

  it("continues the timeline across an SSRC change and waits for the new stream's key frame", () => {
    const a = vp8Stream(5000, 4);
    const b = vp8Stream(777_777, 4);
    const d = new VideoDepacketizer<TestRtp>(new Vp8Format(), { clockRate: 90000 });
    const out = frames(feed(d, [...toRtp(a, { ssrc: 1 }), ...toRtp(b, { ssrc: 2, seq: 40000 })]));
    expect(out.map((f) => f.timestamp)).toEqual([5000, 8000, 11000, 14000, 17000, 20000, 23000, 26000]);
  });

  it("drops malformed frames and counts them", () => {
    const bad = [{ payloads: [B(0x90, 0x80)], timestamp: 0 }];
    const d = new VideoDepacketizer<TestRtp>(new Vp8Format(), { clockRate: 90000 });
    feed(d, toRtp(bad));
    expect(d.stats.dropped.malformed + d.stats.dropped.keyframe_wait).toBe(1);
  });
});
