import { describe, expect, it } from "vitest";
import { DEFAULT_US_PER_PACKET, LoadMonitor, RESERVATION_MS, fits, overloaded } from "../../src/metrics/load.ts";
import { ConfigError, loadConfig } from "../../src/config.ts";

describe("admission control", () => {
  const busy = { cpu: 0.95, lagMs: 0 };
  const calm = { cpu: 0.3, lagMs: 0 };
  it("refuses only when the last two seconds were both at the limit", () => {
    expect(overloaded([busy, busy], { maxCpu: 0.9 })).toBe(true);
    expect(overloaded([calm, busy], { maxCpu: 0.9 })).toBe(false);
    expect(overloaded([busy, calm], { maxCpu: 0.9 })).toBe(false);
    expect(overloaded([busy], { maxCpu: 0.9 })).toBe(false);
  });
  it("event-loop lag alone (another process starving the server) refuses nobody; 0 turns it off", () => {
    expect(overloaded([{ cpu: 0.2, lagMs: 5000 }, { cpu: 0.2, lagMs: 5000 }], { maxCpu: 0.9 })).toBe(false);
    expect(overloaded([busy, busy], { maxCpu: 0 })).toBe(false);
  });
  it("ADMISSION_MAX_CPU: default 0.75, a number from 0 to 64, anything else names the variable", () => {
    expect(loadConfig({}).admissionMaxCpu).toBe(0.75);
    expect(loadConfig({ ADMISSION_MAX_CPU: "0" }).admissionMaxCpu).toBe(0);
    expect(loadConfig({ ADMISSION_MAX_CPU: "1.5" }).admissionMaxCpu).toBe(1.5);
    for (const bad of ["-1", "abc", "65", "0.5.1"]) {
      expect(() => loadConfig({ ADMISSION_MAX_CPU: bad })).toThrow(ConfigError);
      expect(() => loadConfig({ ADMISSION_MAX_CPU: bad })).toThrow(/ADMISSION_MAX_CPU/);
    }
  });

  it("admits a viewer only if its packets, and those of viewers admitted moments ago, fit under the limit", () => {
    const policy = { maxCpu: 0.9 };
    // 310 packets/s at 10 µs each is 0.31 % of a core.
    expect(fits({ cpu: 0.5, usPerPacket: 10, reservedPps: 0, newPps: 310 }, policy)).toBe(true);
    expect(fits({ cpu: 0.898, usPerPacket: 10, reservedPps: 0, newPps: 310 }, policy)).toBe(false);
    // 100 viewers admitted in the last seconds, not yet in the CPU figure, fill the headroom of 0.3.
    expect(fits({ cpu: 0.6, usPerPacket: 10, reservedPps: 100 * 310, newPps: 310 }, policy)).toBe(false);
    expect(fits({ cpu: 0.6, usPerPacket: 10, reservedPps: 50 * 310, newPps: 310 }, policy)).toBe(true);
    expect(fits({ cpu: 5, usPerPacket: 10, reservedPps: 0, newPps: 0 }, { maxCpu: 0 })).toBe(true); // off
  });

  it("a monitor with no samples yet reserves each admitted viewer's cost until the viewer releases it", () => {
    const m = new LoadMonitor({ maxCpu: 0.9 });
    try {
      expect(m.usPerPacket).toBe(DEFAULT_US_PER_PACKET);
      // At 30 µs a packet, 0.9 of a core is 30,000 packets/s: 9 viewers of 3,000 fit, the 10th does not.
      const admitted = [];
      for (let i = 0; i < 12; i++) {
        const r = m.admit(3000, 1000);
        if (r) admitted.push(r);
      }
      expect(admitted.length).toBe(9);
      // Still refused long after, while none of the nine has connected or failed (a slow client).
      expect(m.admit(3000, 1000 + 10 * RESERVATION_MS)).toBeUndefined();
      admitted[0]?.release();
      admitted[0]?.release(); // twice is harmless
      expect(m.admit(3000, 1000 + 10 * RESERVATION_MS)).toBeDefined();
      expect(m.admit(3000, 1000 + 10 * RESERVATION_MS)).toBeUndefined();
    } finally {
      m.close();
    }
  });

  it("reads the CPU afresh when a busy event loop has kept the sampling timer from firing", () => {
    // A low limit: under a loaded test run this process may get well under a whole core, yet still more than this.
    const m = new LoadMonitor({ maxCpu: 0.2 });
    try {
      expect(m.admit(100)).toBeDefined(); // idle: room for a viewer
      // A loop that never yields, as a saturated server's: the once-a-second timer cannot fire during it.
      const until = performance.now() + 1700;
      let x = 0;
      while (performance.now() < until) x += Math.sqrt(x + 1);
      expect(x).toBeGreaterThan(0);
      expect(m.current).toBeUndefined(); // no sample from the timer
      // The process was busy since the monitor started: the next viewer is refused on a sample taken now.
      expect(m.admit(100)).toBeUndefined();
      expect(m.current?.cpu).toBeGreaterThan(0.2);
    } finally {
      m.close();
    }
  });

  it("headroom (what placement reads) is the packets admission would still take, reservations deducted", () => {
    const m = new LoadMonitor({ maxCpu: 0.9 });
    try {
      // No sample yet: 0.9 of a core at 30 µs a packet.
      expect(m.headroomPps(1000)).toBe(30_000);
      const r = m.admit(3000, 1000);
      expect(m.headroomPps(1000)).toBe(27_000);
      r?.release();
      expect(m.headroomPps(1000)).toBe(30_000);
      // Admission agrees with it: what the headroom says fits, fits, and a packet more does not.
      const all = m.admit(30_000 - 1, 1000);
      expect(all).toBeDefined();
      expect(m.admit(2, 1000)).toBeUndefined();
      expect(m.headroomPps(1000)).toBe(1);
    } finally {
      m.close();
    }
    const off = new LoadMonitor({ maxCpu: 0 });
    try {
      expect(off.headroomPps()).toBe(Number.MAX_SAFE_INTEGER);
    } finally {
      off.close();
    }
  });

  it("with admission off, everyone is admitted", () => {
    const m = new LoadMonitor({ maxCpu: 0 });
    try {
      for (let i = 0; i < 100; i++) expect(m.admit(1e6)).toBeDefined();
    } finally {
      m.close();
    }
  });
});
