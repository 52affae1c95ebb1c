// A test that needs a machine tool fails, naming the package, when the tool is missing (never a silent skip).
import { afterEach, describe, expect, it } from "vitest";
import { requireTool } from "../helpers/requireTool.ts";

const PATH = process.env.PATH;
afterEach(() => {
  process.env.PATH = PATH;
});

describe("requireTool", () => {
  it("finds a tool on PATH", () => {
    expect(requireTool("ffmpeg")).toMatch(/ffmpeg$/);
  });

  it("throws, naming the package to install, when the tool is not there", () => {
    process.env.PATH = "/nonexistent";
    expect(() => requireTool("redis-server")).toThrow(/redis-server is needed by these tests and is not installed .*apt-get install redis-server/);
  });
});
