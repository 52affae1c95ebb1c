// Node ids and session ids that carry them: their shape, and what parses as one of ours.
import { describe, expect, it } from "vitest";
import { isNodeId, newNodeId, newSessionId, sessionNode } from "../../../src/cluster/ids.ts";

describe("node and session ids", () => {
  it("makes 4-character base64url node ids, random", () => {
    const ids = new Set(Array.from({ length: 200 }, () => newNodeId()));
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{4}$/);
    expect(ids.size).toBeGreaterThan(190);
  });

  it("makes 32-character session ids that start with their node id and parses the node back", () => {
    const node = newNodeId();
    const a = newSessionId(node);
    const b = newSessionId(node);
    expect(a).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(a.startsWith(node)).toBe(true);
    expect(a).not.toBe(b);
    expect(sessionNode(a)).toBe(node);
  });

  it("refuses to make a session id for something that is not a node id", () => {
    for (const bad of ["", "abc", "abcde", "ab/c", "ab c"]) expect(() => newSessionId(bad)).toThrow(TypeError);
  });

  it("finds no node in ids that are not ours: wrong length, wrong alphabet", () => {
    for (const bad of ["", "AAAA", "A".repeat(31), "A".repeat(33), "AAAA" + "+".repeat(28), "AAAA" + "=".repeat(28)]) {
      expect(sessionNode(bad)).toBeUndefined();
    }
    expect(isNodeId("Ab_-")).toBe(true);
    expect(isNodeId(1234)).toBe(false);
  });
});
