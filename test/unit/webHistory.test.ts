// The stats graphs' history (web/lib/history.ts): the last N samples, oldest first, bad figures as 0.
import { describe, expect, it } from "vitest";
import { SampleHistory } from "../../web/lib/history.ts";

describe("SampleHistory", () => {
  it("keeps the last `capacity` samples, oldest first", () => {
    const h = new SampleHistory(3);
    for (const v of [1, 2, 3, 4, 5]) h.push(v);
    expect(h.values).toEqual([3, 4, 5]);
    expect(h.max).toBe(5);
  });

  it("counts a negative, NaN or infinite sample (a counter reset, a division by zero) as 0", () => {
    const h = new SampleHistory(180);
    for (const v of [-5, Number.NaN, Number.POSITIVE_INFINITY, 2_000_000]) h.push(v);
    expect(h.values).toEqual([0, 0, 0, 2_000_000]);
    expect(new SampleHistory(2).max).toBe(0);
  });

  it("refuses a capacity the graph cannot spread over its width", () => {
    for (const c of [0, 1, 2.5, Number.NaN]) expect(() => new SampleHistory(c)).toThrow(/capacity/);
  });
});
