import { describe, expect, it } from "vitest";
import { TwccRecorder } from "../../src/rtc/twcc.ts";

describe("TwccRecorder", () => {
  it("reports received and lost packets with run-length chunks and 250 µs deltas", () => {
    const r = new TwccRecorder(0x11223344);
    const t0 = 64_000 * 1000; // a whole number of 64 ms units
    r.onPacket(10, t0 + 1000, 0xaabbccdd);
    r.onPacket(11, t0 + 2000, 0xaabbccdd);
    r.onPacket(13, t0 + 2500, 0xaabbccdd);
    const fb = r.buildFeedback()!;
    expect(fb.length % 4).toBe(0);
    expect(fb[0]! & 0x1f).toBe(15); // FMT 15
    expect(fb[1]).toBe(205); // RTPFB
    expect(fb.readUInt16BE(2)).toBe(fb.length / 4 - 1);
    expect(fb.readUInt32BE(4)).toBe(0x11223344);
    expect(fb.readUInt32BE(8)).toBe(0xaabbccdd);
    expect(fb.readUInt16BE(12)).toBe(10); // base sequence number
    expect(fb.readUInt16BE(14)).toBe(4); // status count: 10, 11, 12 (lost), 13
    expect(fb.readUIntBE(16, 3)).toBe(1000); // reference time in 64 ms units
    expect(fb[19]).toBe(0); // feedback packet count
    // Run-length chunks: 2 × small, 1 × not received, 1 × small.
    expect(fb.readUInt16BE(20)).toBe((1 << 13) | 2);
    expect(fb.readUInt16BE(22)).toBe((0 << 13) | 1);
    expect(fb.readUInt16BE(24)).toBe((1 << 13) | 1);
    // Deltas in 250 µs: 1000 µs after the reference, then +1000, then +500.
    expect([fb[26], fb[27], fb[28]]).toEqual([4, 4, 2]);
    expect(r.buildFeedback()).toBeUndefined();
  });

  it("continues after a report, counts feedback packets, unwraps sequence numbers and uses large deltas", () => {
    const r = new TwccRecorder(1);
    const t0 = 64_000 * 5;
    r.onPacket(65535, t0, 2);
    r.buildFeedback();
    r.onPacket(0, t0 + 1000, 2);
    r.onPacket(1, t0 + 101_000, 2); // 100 ms later: 400 units, a large delta
    const fb = r.buildFeedback()!;
    expect(fb.readUInt16BE(12)).toBe(0); // wrapped from 65535
    expect(fb.readUInt16BE(14)).toBe(2);
    expect(fb[19]).toBe(1);
    expect(fb.readUInt16BE(20)).toBe((1 << 13) | 1);
    expect(fb.readUInt16BE(22)).toBe((2 << 13) | 1);
    expect(fb[24]).toBe(4);
    expect(fb.readInt16BE(25)).toBe(400);
    // A packet older than what was reported is ignored.
    r.onPacket(65534, t0, 2);
    expect(r.buildFeedback()).toBeUndefined();
  });
});
