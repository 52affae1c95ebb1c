// The layer rules of src/ (docs/architecture.md), checked on its import graph: no cycles, and each layer imports
// only what it may.
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { cycles, importGraph } from "../helpers/importGraph.ts";

const SRC = resolve(import.meta.dirname, "../../src");
const graph = importGraph(SRC);

/** Imports of modules under `from` that land in one of `forbidden` (folders of src/, or package names). */
function violations(from: string, forbidden: readonly string[]): string[] {
  const out: string[] = [];
  for (const [module, deps] of graph.imports) {
    if (!module.startsWith(`${from}/`)) continue;
    for (const dep of deps) if (forbidden.some((f) => dep === f || dep.startsWith(`${f}/`))) out.push(`${module} → ${dep}`);
  }
  return out.sort();
}

describe("src/ import graph", () => {
  it("reads the tree (a sanity check of the reader itself)", () => {
    expect(graph.imports.size).toBeGreaterThan(60);
    expect(graph.imports.get("main.ts")).toContain("server.ts");
    expect(graph.imports.get("http/app.ts")).toContain("hono");
    // A type-only import counts: it is an edge of the graph like any other.
    expect(graph.imports.get("room/context.ts")).toContain("config.ts");
  });

  it("has no import cycle", () => {
    expect(cycles(graph)).toEqual([]);
  });

  it("media/ and rtc/ know no rooms and no HTTP", () => {
    expect(violations("media", ["room", "http", "server.ts"])).toEqual([]);
    expect(violations("rtc", ["room", "http", "server.ts"])).toEqual([]);
  });

  it("room/ knows no HTTP", () => {
    expect(violations("room", ["http", "hono", "server.ts"])).toEqual([]);
  });

  it("platform/ knows no Hono and nothing of the server above it", () => {
    expect(violations("platform", ["hono", "http", "room", "rtc", "media", "cluster", "server.ts"])).toEqual([]);
  });

  it("cluster/ knows no HTTP, no rooms, no media", () => {
    expect(violations("cluster", ["http", "hono", "room", "rtc", "media", "server.ts"])).toEqual([]);
  });

  it("node/ (this server as a cluster node) knows no HTTP routes and no Hono: it decides, the routes answer", () => {
    expect(violations("node", ["http", "hono", "server.ts"])).toEqual([]);
  });

  it("werift is only ever imported as \"werift\", its one patched bundle (patches/README.md), here and in tests and benchmarks", () => {
    const others: string[] = [];
    for (const dir of ["src", "test", "bench"]) {
      for (const [module, deps] of importGraph(resolve(SRC, "..", dir)).imports) {
        for (const dep of deps) if (dep.startsWith("werift/")) others.push(`${dir}/${module} → ${dep}`);
      }
    }
    expect(others).toEqual([]);
  });

  it("the cycle finder finds cycles (on a graph made to have two)", () => {
    const made = { imports: new Map([["a", new Set(["b"])], ["b", new Set(["c"])], ["c", new Set(["a"])], ["d", new Set(["d"])], ["e", new Set(["a"])]]) };
    expect(cycles(made)).toEqual([["a", "b", "c"], ["d"]]);
  });
});
