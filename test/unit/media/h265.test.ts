// The H265 depacketizer (RFC 7798): hand-built packets for each payload structure and each malformed form, then a
// real libx265 clip packetized by the test packetizer and reassembled byte for byte, and truncated packets that must
// never throw.
import { describe, expect, it } from "vitest";
import { H265Format, h265NalUnits, h265ParameterSetsFromFmtp } from "../../../src/media/depacketize/h265.ts";
import { VideoDepacketizer } from "../../../src/media/depacketize/video.ts";
import { encodedSource, h265AccessUnits, readSource, splitAnnexB } from "../../media/files.ts";
import { packetizeH265, toRtp, type TestRtp } from "../../media/packetize.ts";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");
const B = (...bytes: number[]) => Buffer.from(bytes);
const sc = B(0, 0, 0, 1);
const annexB = (nals: Buffer[]) => Buffer.concat(nals.flatMap((n) => [sc, n]));

/** NAL unit header bytes for a type, with LayerId 0 and TID 1 (nuh_temporal_id_plus1), as encoders write. */
const nal = (type: number, body: string) => Buffer.concat([B(type << 1, 0x01), hex(body)]);
const vps = nal(32, "0c01ffff016000000300b0");
const sps = nal(33, "0101600000030090000003005da0");
const pps = nal(34, "c172b462");
const aud = nal(35, "50");
const idr = nal(19, "af0c0000aabbccddeeff0011");
const cra = nal(21, "af0c000099887766");
const trail = nal(1, "d00312345678");

const ap = (...nals: Buffer[]) => Buffer.concat([B(48 << 1, 0x01), ...nals.flatMap((n) => [B(n.length >> 8, n.length & 0xff), n])]);
const fu = (n: Buffer, from: number, to: number, start: boolean, end: boolean) =>
  Buffer.concat([B(((n[0] as number) & 0x81) | (49 << 1), n[1] as number, (start ? 0x80 : 0) | (end ? 0x40 : 0) | (((n[0] as number) >> 1) & 0x3f)), n.subarray(from, to)]);

describe("H265 payloads (RFC 7798, no DONL)", () => {
  it("reassembles an AP of parameter sets and an FU'd IDR into an Annex-B access unit", () => {
    const f = new H265Format();
    const au = f.assemble([ap(aud, vps, sps, pps), fu(idr, 2, 6, true, false), fu(idr, 6, 10, false, false), fu(idr, 10, idr.length, false, true)]);
    expect(au).toEqual({ data: annexB([aud, vps, sps, pps, idr]), keyframe: true });
    expect(f.assemble([trail])).toEqual({ data: annexB([trail]), keyframe: false });
  });

  it("rebuilds the NAL header of a fragmented unit with its LayerId and TID", () => {
    // LayerId 37 (top bit in byte 0, five low bits in byte 1), TID 3.
    const layered = Buffer.concat([B((1 << 1) | 1, (5 << 3) | 3), hex("0011223344556677")]);
    expect(h265NalUnits([fu(layered, 2, 5, true, false), fu(layered, 5, layered.length, false, true)])).toEqual([layered]);
  });

  it("puts the last VPS, SPS and PPS before an IRAP picture that comes without them, after the AUD", () => {
    const f = new H265Format();
    expect(f.assemble([aud, idr])).toEqual({ data: annexB([aud, idr]), keyframe: false }); // none known yet
    f.assemble([ap(vps, sps, pps), idr]);
    expect(f.assemble([aud, cra])).toEqual({ data: annexB([aud, vps, sps, pps, cra]), keyframe: true });
    // Only the missing ones: an access unit that brings its own SPS gets the known VPS and PPS.
    const sps2 = nal(33, "0101600000030090000003005da1");
    expect(f.assemble([sps2, idr])?.data).toEqual(annexB([sps2, vps, pps, idr]));
    // A later IRAP gets the newest SPS.
    expect(f.assemble([idr])?.data).toEqual(annexB([vps, sps2, pps, idr]));
  });

  it("starts from sprop-vps/sps/pps of the fmtp until the stream sends its own", () => {
    const b64 = (n: Buffer) => n.toString("base64");
    const fmtp = `level-id=93;sprop-vps=${b64(vps)};sprop-sps=${b64(sps)},${b64(nal(33, "01"))};sprop-pps=${b64(pps)};tx-mode=SRST`;
    const sets = h265ParameterSetsFromFmtp(fmtp);
    expect(sets).toEqual({ vps: Uint8Array.from(vps), sps: Uint8Array.from(sps), pps: Uint8Array.from(pps) });
    const f = new H265Format(sets);
    expect(f.assemble([idr])).toEqual({ data: annexB([vps, sps, pps, idr]), keyframe: true });
  });

  it("ignores sprop values that are not the NAL unit type their key names, or not base64", () => {
    const b64 = (n: Buffer) => n.toString("base64");
    expect(h265ParameterSetsFromFmtp(`sprop-vps=${b64(sps)};sprop-sps=%%%;sprop-pps=;profile-id=1`)).toEqual({});
    expect(h265ParameterSetsFromFmtp("")).toEqual({});
    expect(h265ParameterSetsFromFmtp("sprop-pps")).toEqual({});
  });

  it("knows frame starts: single NAL units, APs and first fragments", () => {
    const f = new H265Format();
    expect(f.isFrameStart(ap(vps, sps))).toBe(true);
    expect(f.isFrameStart(trail)).toBe(true);
    expect(f.isFrameStart(fu(idr, 2, 6, true, false))).toBe(true);
    expect(f.isFrameStart(fu(idr, 6, 10, false, false))).toBe(false);
    expect(f.isFrameStart(B())).toBe(false);
  });

  it.each([
    ["a fragment without its start", [fu(idr, 6, idr.length, false, true)]],
    ["a fragment without its end", [fu(idr, 2, 6, true, false)]],
    ["a fragment marked both start and end", [fu(idr, 2, idr.length, true, true)]],
    ["a second start inside a fragment", [fu(idr, 2, 6, true, false), fu(idr, 2, 6, true, false)]],
    ["a single NAL unit inside a fragment", [fu(idr, 2, 6, true, false), trail, fu(idr, 6, idr.length, false, true)]],
    ["an FU carrying an AP type", [B(49 << 1, 1, 0x80 | 48, 0xaa), B(49 << 1, 1, 0x40 | 48, 0xbb)]],
    ["an AP size past the end", [B(48 << 1, 1, 0x00, 0x09, 0x40, 0x01)]],
    ["an AP unit shorter than its header", [B(48 << 1, 1, 0x00, 0x01, 0x40)]],
    ["an AP with no units", [B(48 << 1, 1)]],
    ["the forbidden bit", [B(0x80 | (1 << 1), 1, 0xaa)]],
    ["a PACI packet (type 50)", [B(50 << 1, 1, 0, 0, 0xaa)]],
    ["an unspecified type (60)", [B(60 << 1, 1, 0xaa)]],
    ["a one-byte payload", [B(0x02)]],
    ["an empty payload", [B()]],
  ])("refuses %s (undefined, never a throw)", (_what, payloads) => {
    expect(new H265Format().assemble(payloads)).toBeUndefined();
  });
});

describe("H265 from libx265, round trip", () => {
  async function clip(): Promise<Buffer[][]> {
    return h265AccessUnits(splitAnnexB(readSource(await encodedSource("h265", 2))));
  }

  it.each([1200, 300])("every access unit comes back byte for byte (MTU %i: APs, single NAL units and FUs)", async (mtu) => {
    const aus = await clip();
    expect(aus).toHaveLength(60);
    const f = new H265Format();
    const kinds = new Set<number>();
    let keyframes = 0;
    for (const au of aus) {
      const payloads = packetizeH265(au, mtu);
      for (const p of payloads) kinds.add(((p[0] as number) >> 1) & 0x3f);
      const out = f.assemble(payloads);
      // The clip repeats VPS/SPS/PPS before every IDR, so nothing needs inserting: out is exactly the input.
      expect(out?.data).toEqual(annexB(au));
      if (out?.keyframe) keyframes++;
    }
    expect(keyframes).toBe(2);
    expect(kinds.has(48)).toBe(true);
    if (mtu === 300) expect(kinds.has(49)).toBe(true);
  });

  it("through the depacketizer: 60 frames, 2 keyframes, the RTP time of each", async () => {
    const aus = await clip();
    const rtp = toRtp(aus.map((au, i) => ({ payloads: packetizeH265(au, 500), timestamp: 90_000 + i * 3000 })), { seq: 65_500 });
    const d = new VideoDepacketizer<TestRtp>(new H265Format(), { clockRate: 90000 });
    const frames = [...rtp.flatMap((p) => d.processInput(p)), ...d.flush()].flatMap((o) => (o.type === "frame" ? [o.frame] : []));
    expect(frames.map((x) => x.timestamp)).toEqual(aus.map((_, i) => 90_000 + i * 3000));
    expect(frames.filter((x) => x.keyframe)).toHaveLength(2);
    expect(Buffer.concat(frames.map((x) => x.data))).toEqual(Buffer.concat(aus.map(annexB)));
  });

  it("truncated and corrupted packets never throw, alone or through the depacketizer", async () => {
    const aus = await clip();
    const packets = aus.slice(0, 32).flatMap((au) => packetizeH265(au, 400));
    const f = new H265Format();
    for (const p of packets) {
      for (let cut = 0; cut <= Math.min(p.length, 40); cut++) expect(() => f.assemble([p.subarray(0, cut)])).not.toThrow();
      expect(() => f.assemble([p.subarray(0, p.length - 1), p])).not.toThrow();
    }
    // Every packet truncated at a pseudo-random point, and one byte flipped in every fifth, fed as a stream.
    let seed = 17;
    const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    const mangled = packets.map((p, i) => {
      const q = Buffer.from(p.subarray(0, 1 + (next() % p.length)));
      const at = next() % q.length;
      if (i % 5 === 0) q[at] = (q[at] as number) ^ 0xff;
      return q;
    });
    const d = new VideoDepacketizer<TestRtp>(new H265Format(), { clockRate: 90000 });
    const rtp = toRtp(mangled.map((p, i) => ({ payloads: [p], timestamp: i * 3000 })));
    expect(() => {
      for (const p of rtp) d.processInput(p);
      d.flush();
    }).not.toThrow();
  });
});
