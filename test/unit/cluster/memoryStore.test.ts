// The in-memory cluster state the supervisor holds, on a driven clock: records and claims expire ttl after the
// last heartbeat exactly as Redis keys do, a claim outlives nobody, and a dropped node takes its claims with it.
import { describe, expect, it } from "vitest";
import type { NodeInfo } from "../../../src/cluster/directory.ts";
import { MemoryStore } from "../../../src/cluster/memoryStore.ts";
import { presence } from "./helpers/report.ts";

function setup(ttlMs = 3000) {
  let now = 1_000_000;
  const store = new MemoryStore({ ttlMs, now: () => now });
  const info = (id: string): NodeInfo => ({ id, url: `http://${id}`, startedAt: 1, load: { cpu: 0, viewers: 0, rooms: 0, headroomPps: 100 } });
  const beat = (id: string, claims: string[] = [], instance = `i-${id}`) =>
    store.heartbeat({ id, instance, info: info(id), presence: [], claims });
  return { store, info, beat, advance: (ms: number) => (now += ms) };
}

describe("MemoryStore", () => {
  it("refuses an id a live node holds, and gives it out again once that node expired", () => {
    const { store, info, advance } = setup();
    expect(store.register({ id: "AAAA", instance: "one", info: info("AAAA") })).toBe(true);
    expect(store.register({ id: "AAAA", instance: "two", info: info("AAAA") })).toBe(false);
    expect(store.register({ id: "AAAA", instance: "one", info: info("AAAA") })).toBe(true);
    advance(3000);
    expect(store.nodes()).toEqual([]);
    expect(store.register({ id: "AAAA", instance: "two", info: info("AAAA") })).toBe(true);
  });

  it("expires a node, its claims and its presence ttl after its last heartbeat, not before", () => {
    const { store, beat, advance } = setup();
    beat("AAAA");
    beat("BBBB");
    expect(store.claim("r", "AAAA")).toEqual({ won: true });
    store.heartbeat({ id: "AAAA", instance: "i-AAAA", info: store.node("AAAA") as NodeInfo, presence: [presence("r", { origin: true })], claims: ["r"] });
    advance(2999);
    beat("BBBB");
    expect(store.origin("r")?.id).toBe("AAAA");
    expect(store.claim("r", "BBBB")).toMatchObject({ won: false, origin: { id: "AAAA", url: "http://AAAA" } });
    expect(store.presence().map((p) => p.node).sort()).toEqual(["AAAA", "BBBB"]);
    advance(1);
    expect(store.node("AAAA")).toBeUndefined();
    expect(store.origin("r")).toBeUndefined();
    expect(store.presence().map((p) => p.node)).toEqual(["BBBB"]);
    expect(store.claim("r", "BBBB")).toEqual({ won: true });
  });

  it("re-takes a claim that expired on a heartbeat, and reports one another node holds as lost", () => {
    const { store, beat, advance } = setup();
    beat("AAAA");
    store.claim("mine", "AAAA");
    store.claim("taken", "AAAA");
    advance(3500);
    // a stalled past its TTL; b came and claimed one of a's rooms meanwhile.
    beat("BBBB");
    expect(store.claim("taken", "BBBB")).toEqual({ won: true });
    expect(beat("AAAA", ["mine", "taken"])).toEqual({ registered: true, lost: ["taken"] });
    expect(store.origin("mine")?.id).toBe("AAAA");
    expect(store.origin("taken")?.id).toBe("BBBB");
  });

  it("answers a heartbeat for an id another instance holds with registered: false, touching nothing", () => {
    const { store, beat } = setup();
    beat("AAAA", [], "first");
    store.claim("r", "AAAA");
    expect(beat("AAAA", ["other"], "second")).toEqual({ registered: false, lost: [] });
    expect(store.origin("other")).toBeUndefined();
    expect(store.origin("r")?.id).toBe("AAAA");
  });

  it("releases a claim only for its owner", () => {
    const { store, beat } = setup();
    beat("AAAA");
    beat("BBBB");
    store.claim("r", "AAAA");
    store.release("r", "BBBB");
    expect(store.origin("r")?.id).toBe("AAAA");
    store.release("r", "AAAA");
    expect(store.origin("r")).toBeUndefined();
  });

  it("drops a node with every claim it held, and sweeps the expired ones", () => {
    const { store, beat, advance } = setup();
    beat("AAAA");
    beat("BBBB");
    store.claim("a1", "AAAA");
    store.claim("a2", "AAAA");
    store.claim("b1", "BBBB");
    expect(store.drop("AAAA", "not-its-instance")).toBeUndefined();
    expect(store.drop("AAAA")).toEqual({ node: "AAAA", rooms: ["a1", "a2"] });
    expect(store.drop("AAAA")).toBeUndefined();
    expect(store.origin("a1")).toBeUndefined();
    expect(store.origin("b1")?.id).toBe("BBBB");
    advance(3000);
    expect(store.sweep()).toEqual([{ node: "BBBB", rooms: ["b1"] }]);
    expect(store.sweep()).toEqual([]);
  });

  it("never expires anything with an infinite TTL", () => {
    const { store, beat, advance } = setup(Infinity);
    beat("AAAA");
    store.claim("r", "AAAA");
    advance(1e12);
    expect(store.origin("r")?.id).toBe("AAAA");
    expect(store.sweep()).toEqual([]);
  });
});
