import { describe, expect, it } from "vitest";
import { ConfigError, helpText, loadConfig } from "../../src/config.ts";

describe("recording settings", () => {
  it("default to no retention and no FFMPEG_PATH", () => {
    const c = loadConfig({});
    expect([c.recordMaxAgeSec, c.recordMaxBytes, c.ffmpegPath]).toEqual([undefined, undefined, undefined]);
  });

  it("read RECORD_MAX_AGE as a duration", () => {
    const age = (v: string) => loadConfig({ RECORD_MAX_AGE: v }).recordMaxAgeSec;
    expect(age("90")).toBe(90);
    expect(age("90s")).toBe(90);
    expect(age("30m")).toBe(1800);
    expect(age("12h")).toBe(43200);
    expect(age("7d")).toBe(604800);
    expect(age("2W")).toBe(1209600);
    for (const bad of ["0", "7 days", "1.5h", "-1d", "h"]) {
      expect(() => loadConfig({ RECORD_MAX_AGE: bad })).toThrow(ConfigError);
    }
  });

  it("read RECORD_MAX_BYTES as a size in powers of 1024", () => {
    const size = (v: string) => loadConfig({ RECORD_MAX_BYTES: v }).recordMaxBytes;
    expect(size("1000")).toBe(1000);
    expect(size("500M")).toBe(500 * 1024 ** 2);
    expect(size("10G")).toBe(10 * 1024 ** 3);
    expect(size("10GB")).toBe(10 * 1024 ** 3);
    expect(size("1.5t")).toBe(1.5 * 1024 ** 4);
    expect(size("64KiB")).toBe(65536);
    for (const bad of ["0", "10X", "G", "-5M"]) {
      const err = (() => {
        try {
          loadConfig({ RECORD_MAX_BYTES: bad });
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).variable).toBe("RECORD_MAX_BYTES");
    }
  });

  it("take FFMPEG_PATH as given and list all three in --help", () => {
    expect(loadConfig({ FFMPEG_PATH: "/opt/ffmpeg/bin/ffmpeg" }).ffmpegPath).toBe("/opt/ffmpeg/bin/ffmpeg");
    const help = helpText("x");
    for (const v of ["RECORD_MAX_AGE", "RECORD_MAX_BYTES", "FFMPEG_PATH"]) expect(help).toContain(v);
  });
});
