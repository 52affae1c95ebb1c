import { describe, expect, it } from "vitest";
import { overloaded } from "../../src/metrics/load.ts";
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
  it("ADMISSION_MAX_CPU: default 0.9, a number from 0 to 64, anything else names the variable", () => {
    expect(loadConfig({}).admissionMaxCpu).toBe(0.9);
    expect(loadConfig({ ADMISSION_MAX_CPU: "0" }).admissionMaxCpu).toBe(0);
    expect(loadConfig({ ADMISSION_MAX_CPU: "1.5" }).admissionMaxCpu).toBe(1.5);
    for (const bad of ["-1", "abc", "65", "0.5.1"]) {
      expect(() => loadConfig({ ADMISSION_MAX_CPU: bad })).toThrow(ConfigError);
      expect(() => loadConfig({ ADMISSION_MAX_CPU: bad })).toThrow(/ADMISSION_MAX_CPU/);
    }
  });
});
