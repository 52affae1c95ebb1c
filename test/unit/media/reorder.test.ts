import { describe, expect, it } from "vitest";
import { ReorderBuffer } from "../../../src/media/rtp/reorder.ts";
import { TimestampUnwrapper, seqDelta } from "../../../src/media/rtp/packet.ts";
import type { TestRtp } from "../../media/packetize.ts";

const pkt = (seq: number, ssrc = 1): TestRtp => ({
  header: { sequenceNumber: seq & 0xffff, timestamp: seq * 10, marker: false, ssrc },
  payload: Buffer.from([seq & 0xff]),
});

/** Pushes packets in the given sequence-number order; returns the raw sequence numbers released. */
function run(buf: ReorderBuffer<TestRtp>, seqs: number[], flush = true): number[] {
  const out: number[] = [];
  for (const s of seqs) for (const o of buf.processInput(pkt(s))) out.push(o.packet.header.sequenceNumber);
  if (flush) for (const o of buf.flush()) out.push(o.packet.header.sequenceNumber);
  return out;
}

describe("seqDelta / TimestampUnwrapper", () => {
  it("measure across the wrap", () => {
    expect(seqDelta(65535, 0)).toBe(1);
    expect(seqDelta(0, 65535)).toBe(-1);
    expect(seqDelta(100, 90)).toBe(-10);
    const u = new TimestampUnwrapper();
    expect(u.unwrap(0xfffffff0)).toBe(0xfffffff0);
    expect(u.unwrap(0x10)).toBe(0x100000010);
    expect(u.unwrap(0xfffffff8)).toBe(0xfffffff8); // a late one from before the wrap
    expect(u.project(0x20)).toBe(0x100000020);
  });
});

describe("ReorderBuffer", () => {
  it("passes packets in order straight through", () => {
    const b = new ReorderBuffer<TestRtp>(8);
    const out: number[] = [];
    for (const s of [1, 2, 3]) out.push(...b.processInput(pkt(s)).map((o) => o.packet.header.sequenceNumber));
    expect(out).toEqual([1, 2, 3]);
    expect(b.buffered).toBe(0);
  });

  it("puts reordered packets back in order within the window", () => {
    const b = new ReorderBuffer<TestRtp>(8);
    expect(run(b, [1, 3, 2, 6, 5, 4, 7], false)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it("drops duplicates and packets older than the window, and counts them", () => {
    const b = new ReorderBuffer<TestRtp>(4);
    const out = run(b, [1, 2, 2, 4, 5, 6, 7, 8, 3, 1]);
    expect(out).toEqual([1, 2, 4, 5, 6, 7, 8]);
    expect(b.stats.duplicate).toBe(1);
    // 3 came after the window gave up on it; the second 1 is older still.
    expect(b.stats.late).toBe(2);
  });

  it("gives up on a lost packet once the window is full, so the consumer sees the gap", () => {
    const b = new ReorderBuffer<TestRtp>(4);
    const released: { seq: number }[] = [];
    for (const s of [10, 12, 13, 14]) released.push(...b.processInput(pkt(s)).map((o) => ({ seq: o.seq })));
    expect(released.length).toBe(1); // 11 may still come
    released.push(...b.processInput(pkt(15)).map((o) => ({ seq: o.seq })));
    const seqs = released.map((r) => r.seq);
    expect(seqs.slice(1).map((s) => s - (seqs[0] as number))).toEqual([2, 3, 4, 5]);
  });

  it("keeps unwrapped sequence numbers increasing across 65535 → 0, with reordering at the wrap", () => {
    const b = new ReorderBuffer<TestRtp>(8);
    const ordered: number[] = [];
    for (const s of [65533, 65534, 0, 65535, 1, 2]) for (const o of b.processInput(pkt(s))) ordered.push(o.seq);
    expect(ordered.length).toBe(6);
    for (let i = 1; i < ordered.length; i++) expect((ordered[i] as number) - (ordered[i - 1] as number)).toBe(1);
  });

  it("flushes the old stream and marks a discontinuity when the SSRC changes", () => {
    const b = new ReorderBuffer<TestRtp>(8);
    b.processInput(pkt(1, 1));
    b.processInput(pkt(3, 1));
    const out = b.processInput(pkt(500, 2));
    expect(out.map((o) => [o.packet.header.sequenceNumber, o.discontinuity])).toEqual([
      [3, false],
      [500, true],
    ]);
    expect(b.stats.resets).toBe(1);
    expect((out[1] as { seq: number }).seq).toBeGreaterThan((out[0] as { seq: number }).seq);
  });

  it("treats a far jump backwards as a restart and a far jump forwards as loss", () => {
    const b = new ReorderBuffer<TestRtp>(8);
    const seqs: number[] = [];
    const disc: boolean[] = [];
    for (const s of [30000, 30001, 10, 11, 9000, 9001]) {
      for (const o of b.processInput(pkt(s))) {
        seqs.push(o.seq);
        disc.push(o.discontinuity);
      }
    }
    expect(seqs.length).toBe(6);
    expect(disc).toEqual([false, false, true, false, false, false]);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1] as number);
  });
});
