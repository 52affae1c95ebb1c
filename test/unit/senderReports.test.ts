// The server-wide sender report scheduler, driven by its tick with chosen times (the timer itself only calls
// tick; the reports reaching a real Chromium viewer are checked in test/e2e/chromium.test.ts).
import { describe, expect, it } from "vitest";
import { SenderReportScheduler, type ReportingStream } from "../../src/rtc/senderReports.ts";

class CountingStream implements ReportingStream {
  reports = 0;
  throws = false;
  sendReport(): void {
    this.reports++;
    if (this.throws) throw new Error("transport gone");
  }
}

describe("SenderReportScheduler", () => {
  it("reports each stream 0.5-1.5 s apart: none before 0.5 s, one by 1.5 s, and again within the next 1.5 s", () => {
    // The clock stands still while the streams are added: their times are drawn from one instant, t0.
    const t0 = performance.now();
    const scheduler = new SenderReportScheduler(undefined, () => t0);
    const streams = Array.from({ length: 50 }, () => new CountingStream());
    for (const s of streams) scheduler.add(s);
    scheduler.tick(t0 + 499);
    expect(streams.every((s) => s.reports === 0)).toBe(true);
    scheduler.tick(t0 + 1501);
    expect(streams.every((s) => s.reports === 1)).toBe(true);
    // Not again at once: the next is at least 0.5 s after this one.
    scheduler.tick(t0 + 1502);
    expect(streams.every((s) => s.reports === 1)).toBe(true);
    scheduler.tick(t0 + 3002);
    expect(streams.every((s) => s.reports === 2)).toBe(true);
    for (const s of streams) scheduler.remove(s);
  });

  it("spreads a room's streams over the interval instead of reporting them all in one tick", () => {
    const t0 = performance.now();
    const scheduler = new SenderReportScheduler(undefined, () => t0);
    const streams = Array.from({ length: 200 }, () => new CountingStream());
    for (const s of streams) scheduler.add(s);
    scheduler.tick(t0 + 1000);
    const early = streams.filter((s) => s.reports === 1).length;
    // About half are due by the middle of 0.5-1.5 s; all 200 or none would mean no spread.
    expect(early).toBeGreaterThan(40);
    expect(early).toBeLessThan(160);
    for (const s of streams) scheduler.remove(s);
  });

  it("a stream that throws is reported to onError and does not stop the others; adding twice changes nothing", () => {
    const errors: unknown[] = [];
    const scheduler = new SenderReportScheduler((err) => errors.push(err));
    const [bad, good] = [new CountingStream(), new CountingStream()];
    bad.throws = true;
    scheduler.add(bad);
    scheduler.add(good);
    scheduler.add(good);
    expect(scheduler.size).toBe(2);
    scheduler.tick(performance.now() + 1600);
    expect(good.reports).toBe(1);
    expect(bad.reports).toBe(1);
    expect(errors).toHaveLength(1);
    scheduler.remove(bad);
    scheduler.remove(good);
    scheduler.remove(good);
    expect(scheduler.size).toBe(0);
  });

  it("a removed stream gets no more reports", () => {
    const scheduler = new SenderReportScheduler();
    const s = new CountingStream();
    scheduler.add(s);
    scheduler.remove(s);
    scheduler.tick(performance.now() + 5000);
    expect(s.reports).toBe(0);
  });
});
