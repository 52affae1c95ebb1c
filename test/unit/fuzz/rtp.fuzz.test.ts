// Property-based tests of the RTP, RTCP and STUN reading the server does itself on the packet path (issue 14): the
// mux's STUN username, the keyframe check, reordering and timestamp unwrapping, the TWCC feedback it writes, and
// the RTCP fields it reads from werift's parser. None may throw on any input or take more than a few milliseconds.
import fc from "fast-check";
import { RtcpPacketConverter, TransportWideCC } from "werift";
import { describe, expect, it } from "vitest";
import { isKeyframeStart, type KeyframeCodec } from "../../../src/media/codec/keyframe.ts";
import { seqDelta, TimestampUnwrapper } from "../../../src/media/rtp/packet.ts";
import { ReorderBuffer } from "../../../src/media/rtp/reorder.ts";
import { isRtcpPacket } from "../../../src/media/transcode/rtpIngest.ts";
import { TwccRecorder } from "../../../src/rtc/twcc.ts";
import { stunRequestUsername } from "../../../src/rtc/udpMux.ts";
import { FUZZ_RUNS, TimeBudget } from "./budget.ts";

const bytes = fc.uint8Array({ maxLength: 1500 });

/** A STUN binding request (RFC 8489) with the given attributes, as ICE agents send them. */
function stunRequest(attrs: { type: number; value: Uint8Array }[], lengthDelta = 0): Uint8Array {
  const body = attrs.flatMap(({ type, value }) => {
    const pad = (4 - (value.length % 4)) % 4;
    return [type >> 8, type & 0xff, value.length >> 8, value.length & 0xff, ...value, ...new Array<number>(pad).fill(0)];
  });
  const length = Math.max(0, body.length + lengthDelta) & 0xffff;
  return Uint8Array.from([0x00, 0x01, length >> 8, length & 0xff, 0x21, 0x12, 0xa4, 0x42, ...new Array<number>(12).fill(7), ...body]);
}

describe("STUN username (udpMux) under fuzzing", () => {
  it("any datagram: a string or undefined, never a throw", () => {
    const budget = new TimeBudget(5);
    fc.assert(
      fc.property(fc.oneof(bytes, fc.array(fc.record({ type: fc.integer({ min: 0, max: 0xffff }), value: fc.uint8Array({ maxLength: 300 }) }), { maxLength: 8 }).chain((a) => fc.integer({ min: -40, max: 40 }).map((d) => stunRequest(a, d)))), (data) => {
        const u = budget.time(() => stunRequestUsername(data));
        expect(u === undefined || typeof u === "string").toBe(true);
      }),
      { numRuns: FUZZ_RUNS * 3 },
    );
    expect(budget.withinBudget, String(budget)).toBe(true);
  });

  it("a binding request reads back its USERNAME, whatever attributes come before it", () => {
    const name = fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 200 });
    const other = fc.record({ type: fc.integer({ min: 0x0007, max: 0xffff }), value: fc.uint8Array({ maxLength: 40 }) });
    fc.assert(
      fc.property(fc.array(other, { maxLength: 4 }), name, (before, username) => {
        const request = stunRequest([...before, { type: 0x0006, value: new TextEncoder().encode(username) }]);
        expect(stunRequestUsername(request)).toBe(username);
      }),
      { numRuns: FUZZ_RUNS },
    );
  });
});

describe("keyframe check under fuzzing", () => {
  it.each<KeyframeCodec>(["vp8", "vp9", "h264", "h265", "av1"])("%s: any payload gives a boolean", (codec) => {
    fc.assert(
      fc.property(bytes, (p) => {
        expect(typeof isKeyframeStart(codec, p)).toBe("boolean");
      }),
      { numRuns: FUZZ_RUNS * 3 },
    );
  });

  it("isRtcpPacket: any bytes give a boolean", () => {
    fc.assert(fc.property(bytes, (p) => typeof isRtcpPacket(p) === "boolean"), { numRuns: FUZZ_RUNS });
  });
});

describe("reordering and unwrapping under fuzzing", () => {
  const packets = fc.array(
    fc.record({ seq: fc.integer({ min: 0, max: 0xffff }), ssrc: fc.constantFrom(1, 1, 1, 2), step: fc.oneof(fc.constant(1), fc.integer({ min: -80, max: 80 })) }),
    { maxLength: 400 },
  );

  it("ReorderBuffer: sequence numbers out only increase, each packet at most once, the window bounded", () => {
    const budget = new TimeBudget(5);
    fc.assert(
      fc.property(packets, fc.integer({ min: 1, max: 128 }), fc.boolean(), (list, window, jumpy) => {
        const rb = new ReorderBuffer<{ header: { sequenceNumber: number; timestamp: number; marker: boolean; ssrc: number }; payload: Uint8Array; id: number }>(window);
        let seq = list[0]?.seq ?? 0;
        let last = -Infinity;
        const seen = new Set<number>();
        const take = (out: ReturnType<typeof rb.flush>) => {
          for (const o of out) {
            expect(o.seq).toBeGreaterThan(last);
            last = o.seq;
            expect(seen.has(o.packet.id)).toBe(false);
            seen.add(o.packet.id);
          }
        };
        list.forEach((p, id) => {
          seq = jumpy ? p.seq : (seq + p.step) & 0xffff;
          take(budget.time(() => rb.processInput({ header: { sequenceNumber: seq, timestamp: 0, marker: false, ssrc: p.ssrc }, payload: new Uint8Array(0), id })));
          expect(rb.buffered).toBeLessThanOrEqual(window);
        });
        take(rb.flush());
        expect(rb.buffered).toBe(0);
      }),
      { numRuns: FUZZ_RUNS },
    );
    expect(budget.withinBudget, String(budget)).toBe(true);
  });

  it("TimestampUnwrapper and the circle distances agree", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 100 }), (raws) => {
        const u = new TimestampUnwrapper();
        let prev: { raw: number; out: number } | undefined;
        for (const raw of raws) {
          const out = u.unwrap(raw);
          // The signed distance on the 32-bit circle.
          if (prev) expect(out - prev.out).toBe((raw - prev.raw) | 0);
          expect(seqDelta(raw & 0xffff, prev?.raw === undefined ? 0 : prev.raw & 0xffff)).toBeGreaterThanOrEqual(-32768);
          prev = { raw, out };
        }
      }),
      { numRuns: FUZZ_RUNS },
    );
  });
});

describe("TWCC feedback under fuzzing", () => {
  it("any arrivals: feedback werift (as Chromium) parses, reporting no more packets than arrived", () => {
    const budget = new TimeBudget(10);
    const arrivals = fc.array(
      fc.record({
        step: fc.oneof({ weight: 8, arbitrary: fc.constant(1) }, fc.integer({ min: -100, max: 100 }), fc.integer({ min: 0, max: 0xffff })),
        dtUs: fc.oneof(fc.integer({ min: 0, max: 40_000 }), fc.integer({ min: -10_000_000, max: 10_000_000 })),
        feedback: fc.boolean(),
      }),
      { maxLength: 600 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), arrivals, (start, list) => {
        const twcc = new TwccRecorder(0x11);
        let seq = start;
        let at = 1_000_000_000;
        const distinct = new Set<number>();
        let reported = 0;
        const check = (fb: Buffer | undefined) => {
          if (!fb) return;
          expect(fb.length % 4).toBe(0);
          expect((fb.readUInt16BE(2) + 1) * 4).toBe(fb.length);
          const [packet] = RtcpPacketConverter.deSerialize(fb);
          const tcc = (packet as { feedback?: unknown } | undefined)?.feedback;
          if (!(tcc instanceof TransportWideCC)) throw new Error("werift did not read a transport-wide CC feedback");
          expect(tcc.packetStatusCount).toBe(fb.readUInt16BE(14));
          reported += tcc.recvDeltas.length;
        };
        for (const a of list) {
          seq = (seq + a.step) & 0xffff;
          at += a.dtUs;
          distinct.add(seq);
          twcc.onPacket(seq, at, 0x22);
          if (a.feedback) check(budget.time(() => twcc.buildFeedback()));
        }
        check(budget.time(() => twcc.buildFeedback()));
        expect(reported).toBeLessThanOrEqual(list.length);
      }),
      { numRuns: FUZZ_RUNS },
    );
    expect(budget.withinBudget, String(budget)).toBe(true);
  });
});

describe("RTCP the server reads, under fuzzing", () => {
  it("werift's parser: any bytes either throw (werift drops them) or give packets whose report fields the server reads are numbers", () => {
    const budget = new TimeBudget(5);
    // A compound packet's shape with random contents: version 2, an RTCP type, a length that may lie.
    const rtcpish = fc
      .array(fc.tuple(fc.integer({ min: 0, max: 31 }), fc.constantFrom(200, 201, 202, 203, 204, 205, 206), fc.uint8Array({ maxLength: 120 }), fc.integer({ min: -2, max: 2 })), { minLength: 1, maxLength: 4 })
      .map((parts) =>
        Buffer.concat(
          parts.map(([count, type, body, lie]) => {
            const padded = Buffer.concat([Buffer.from(body), Buffer.alloc((4 - (body.length % 4)) % 4)]);
            const head = Buffer.from([0x80 | count, type, 0, 0]);
            head.writeUInt16BE(Math.max(0, padded.length / 4 + lie) & 0xffff, 2);
            return Buffer.concat([head, padded]);
          }),
        ),
      );
    fc.assert(
      fc.property(fc.oneof(rtcpish, bytes.map((b) => Buffer.from(b))), (data) => {
        let packets: ReturnType<typeof RtcpPacketConverter.deSerialize>;
        try {
          packets = budget.time(() => RtcpPacketConverter.deSerialize(data));
        } catch {
          return; // werift's DTLS transport catches this and drops the packet
        }
        for (const p of packets) {
          const reports = (p as { reports?: { ssrc: unknown; fractionLost: unknown; packetsLost: unknown; jitter: unknown }[] }).reports;
          for (const r of reports ?? []) {
            for (const v of [r.ssrc, r.fractionLost, r.packetsLost, r.jitter]) expect(Number.isFinite(Number(v))).toBe(true);
          }
          if (p.type === 200) {
            const info = (p as { senderInfo: { ntpTimestamp: unknown; rtpTimestamp: unknown } }).senderInfo;
            expect(typeof info.ntpTimestamp === "bigint" || typeof info.ntpTimestamp === "number").toBe(true);
            expect(Number.isFinite(Number(info.rtpTimestamp))).toBe(true);
          }
        }
      }),
      { numRuns: FUZZ_RUNS * 3 },
    );
    expect(budget.withinBudget, String(budget)).toBe(true);
  });
});
