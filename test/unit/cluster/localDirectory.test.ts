// The directory of a server on its own: the same interface as a cluster's, one node, always connected.
import { afterEach, describe, expect, it, vi } from "vitest";
import { DirectoryStateError, type ClusterMessage } from "../../../src/cluster/directory.ts";
import { LocalDirectory } from "../../../src/cluster/localDirectory.ts";
import { presence, silentLog, testReport } from "./helpers/report.ts";

const open: LocalDirectory[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.close()));
});

function local(report = testReport()) {
  const d = new LocalDirectory({ url: "http://127.0.0.1:8080", report, log: silentLog });
  open.push(d);
  return Object.assign(d, { report });
}

describe("LocalDirectory", () => {
  it("is one connected node that holds every room it claims", async () => {
    const d = local(testReport({ viewers: 3 }));
    const id = await d.start();
    expect(await d.start()).toBe(id);
    expect(d.kind).toBe("local");
    expect(d.state).toBe("connected");
    expect(await d.nodes()).toEqual([{ id, url: "http://127.0.0.1:8080", startedAt: expect.any(Number), load: expect.objectContaining({ viewers: 3 }) }]);
    expect(await d.claim("demo")).toEqual({ won: true });
    expect(await d.claim("demo")).toEqual({ won: true });
    expect((await d.origin("demo"))?.id).toBe(id);
    await d.release("demo");
    expect(await d.origin("demo")).toBeUndefined();
  });

  it("lists its rooms from its report", async () => {
    const d = local();
    await d.start();
    d.report.rooms = [presence("b", { origin: true, viewers: 2 }), presence("a", { origin: true, hasPublisher: true, tracks: 2, layers: 1 })];
    expect((await d.rooms()).map((r) => [r.name, r.origin, r.subscribers, r.hasPublisher])).toEqual([
      ["a", d.nodeId, 0, true],
      ["b", d.nodeId, 2, false],
    ]);
  });

  it("hears its own bus messages, after publish returned", async () => {
    const d = local();
    await d.start();
    const heard: [ClusterMessage, string][] = [];
    d.on("message", (msg, from) => heard.push([msg, from]));
    const msg: ClusterMessage = { type: "close-room", room: "demo", reason: "closed by admin" };
    await d.publish(msg);
    await vi.waitFor(() => expect(heard).toEqual([[msg, d.nodeId]]));
  });

  it("keeps other listeners hearing when one throws", async () => {
    const d = local();
    await d.start();
    const heard: string[] = [];
    d.on("message", () => {
      throw new Error("bad listener");
    });
    d.on("message", (msg) => heard.push(msg.type));
    await d.publish({ type: "room-opened", room: "x", node: d.nodeId });
    await vi.waitFor(() => expect(heard).toEqual(["room-opened"]));
  });

  it("refuses calls before start and after close, and closes once", async () => {
    const d = local();
    expect(() => d.nodeId).toThrow(DirectoryStateError);
    await expect(d.claim("x")).rejects.toBeInstanceOf(DirectoryStateError);
    await d.start();
    await d.close();
    await d.close();
    await expect(d.claim("x")).rejects.toBeInstanceOf(DirectoryStateError);
    await expect(d.start()).rejects.toBeInstanceOf(DirectoryStateError);
  });
});
