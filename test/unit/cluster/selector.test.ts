// Which node a viewer or publish is sent to when this one cannot take it.
import { describe, expect, it } from "vitest";
import type { NodeInfo } from "../../../src/cluster/directory.ts";
import { HeadroomSelector } from "../../../src/cluster/selector.ts";

const node = (id: string, headroomPps: number, cpu = 0.5): NodeInfo => ({ id, url: `http://${id}`, startedAt: 0, load: { cpu, viewers: 0, rooms: 0, headroomPps } });
const selector = new HeadroomSelector();

describe("HeadroomSelector", () => {
  it("picks the node with the most headroom", () => {
    expect(selector.select([node("AAAA", 100), node("BBBB", 900), node("CCCC", 500)], { pps: 50 })?.id).toBe("BBBB");
  });

  it("leaves out nodes that cannot take the packets, and answers none when no node can", () => {
    expect(selector.select([node("AAAA", 100), node("BBBB", 299)], { pps: 300 })).toBeUndefined();
    expect(selector.select([node("AAAA", 100), node("BBBB", 300)], { pps: 300 })?.id).toBe("BBBB");
    expect(selector.select([], { pps: 0 })).toBeUndefined();
  });

  it("never picks an excluded node, however much room it has", () => {
    const nodes = [node("AAAA", 10_000), node("BBBB", 500), node("CCCC", 400)];
    expect(selector.select(nodes, { pps: 100, exclude: ["AAAA"] })?.id).toBe("BBBB");
    expect(selector.select(nodes, { pps: 100, exclude: new Set(["AAAA", "BBBB"]) })?.id).toBe("CCCC");
    expect(selector.select(nodes, { pps: 100, exclude: ["AAAA", "BBBB", "CCCC"] })).toBeUndefined();
  });

  it("breaks ties by CPU share, then by id, whatever the order of the list", () => {
    const tied = [node("CCCC", 500, 0.2), node("BBBB", 500, 0.2), node("DDDD", 500, 0.1), node("AAAA", 500, 0.3)];
    const orders = [tied, [...tied].reverse(), [tied[2], tied[0], tied[3], tied[1]] as NodeInfo[]];
    for (const list of orders) expect(selector.select(list, { pps: 1 })?.id).toBe("DDDD");
    const sameCpu = [node("CCCC", 500), node("BBBB", 500)];
    expect(selector.select(sameCpu, { pps: 1 })?.id).toBe("BBBB");
    expect(selector.select([...sameCpu].reverse(), { pps: 1 })?.id).toBe("BBBB");
  });
});
