// Where each node of one machine listens.
import { describe, expect, it } from "vitest";
import { workerDirectPort, workerPortRange } from "../../../src/cluster/workerPlan.ts";

describe("worker plan", () => {
  it("puts worker i's direct port at PORT + 1 + i, or lets the kernel choose when PORT is 0", () => {
    expect([0, 1, 2].map((i) => workerDirectPort(8080, i))).toEqual([8081, 8082, 8083]);
    expect(workerDirectPort(0, 3)).toBe(0);
  });

  it("cuts the media range into contiguous slices that cover it once", () => {
    for (const [min, max, n] of [
      [40000, 40000, 1],
      [40000, 40003, 4],
      [40000, 40009, 3],
      [10000, 59999, 7],
    ] as const) {
      const slices = Array.from({ length: n }, (_, i) => workerPortRange([min, max], i, n));
      expect(slices[0]?.[0]).toBe(min);
      expect(slices[n - 1]?.[1]).toBe(max);
      for (let i = 0; i < n; i++) {
        const [lo, hi] = slices[i] as [number, number];
        expect(hi).toBeGreaterThanOrEqual(lo);
        if (i > 0) expect(lo).toBe((slices[i - 1] as [number, number])[1] + 1);
      }
    }
  });

  it("refuses a range smaller than the number of workers", () => {
    expect(() => workerPortRange([40000, 40002], 0, 4)).toThrow(RangeError);
  });
});
