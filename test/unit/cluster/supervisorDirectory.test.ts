// The supervisor's directory over a real IPC channel: real bun node processes (fixtures/supervisedNode.ts) using
// SupervisorDirectory over process.send, this test process holding the SupervisorState as the supervisor does.
// Then the channel's edge cases in one process: a supervisor that is gone or stuck, and a node that acts for
// another's id.
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DirectoryUnavailableError, type ClusterMessage, type ClusterRoom, type NodeInfo } from "../../../src/cluster/directory.ts";
import { portPair } from "../../../src/cluster/ipc.ts";
import { IpcBackend, SupervisorDirectory } from "../../../src/cluster/supervisorDirectory.ts";
import { SupervisorState } from "../../../src/cluster/supervisorState.ts";
import { spawnWithIpc, type SpawnedProcess } from "../../../src/platform/process.ts";
import { presence, silentLog, testReport } from "./helpers/report.ts";

const FIXTURE = fileURLToPath(new URL("./fixtures/supervisedNode.ts", import.meta.url));

interface TestNode {
  proc: SpawnedProcess;
  id: string;
  heard: { msg: ClusterMessage; from: string }[];
  cmd(cmd: string, args?: Record<string, unknown>): Promise<unknown>;
}

const procs: SpawnedProcess[] = [];
const states: SupervisorState[] = [];
afterEach(async () => {
  for (const p of procs.splice(0)) {
    p.kill("SIGKILL");
    await p.exited;
  }
  for (const s of states.splice(0)) s.close();
});

function supervisor(): SupervisorState {
  const s = new SupervisorState({ log: silentLog });
  states.push(s);
  return s;
}

async function startNode(state: SupervisorState, index: number): Promise<TestNode> {
  const proc = spawnWithIpc({ cmd: ["bun", FIXTURE], env: { ...process.env, ROOMCAST_WORKER: String(index), NODE_URL: `http://127.0.0.1:${9000 + index}` } });
  procs.push(proc);
  state.attach(proc.port, `node ${index}`);
  const heard: TestNode["heard"] = [];
  const replies = new Map<number, (v: unknown) => void>();
  let seq = 0;
  const ready = new Promise<string>((resolve, reject) => {
    proc.exited.then((s) => reject(new Error(`node ${index} exited before it was ready: ${JSON.stringify(s)}`)));
    proc.port.onMessage((raw) => {
      const m = raw as { t?: string; ready?: string; heard?: ClusterMessage; from?: string; seq?: number; value?: unknown; error?: string };
      if (m.t !== "test") return;
      if (m.ready) resolve(m.ready);
      if (m.heard) heard.push({ msg: m.heard, from: m.from as string });
      if (m.seq !== undefined) replies.get(m.seq)?.(m.error !== undefined ? { error: m.error } : m.value);
    });
  });
  const id = await ready;
  return {
    proc,
    id,
    heard,
    cmd: (cmd, args = {}) =>
      new Promise((resolve) => {
        const n = ++seq;
        replies.set(n, resolve);
        proc.port.send({ t: "test", cmd, seq: n, ...args });
      }),
  };
}

describe("SupervisorDirectory over a real IPC channel", () => {
  it("registers node processes under distinct ids, claims a room for one of them only, and carries the bus to all", async () => {
    const state = supervisor();
    const [a, b] = await Promise.all([startNode(state, 0), startNode(state, 1)]);
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{4}$/);
    expect(b.id).not.toBe(a.id);
    expect(state.store.nodes().map((n) => [n.id, n.url]).sort()).toEqual([[a.id, "http://127.0.0.1:9000"], [b.id, "http://127.0.0.1:9001"]].sort());

    const [ra, rb] = (await Promise.all([a.cmd("claim", { room: "demo" }), b.cmd("claim", { room: "demo" })])) as { won: boolean; origin?: NodeInfo }[];
    expect([ra?.won, rb?.won].filter(Boolean)).toHaveLength(1);
    const winner = ra?.won ? a : b;
    expect((ra?.won ? rb : ra)?.origin?.id).toBe(winner.id);
    expect(state.store.origin("demo")?.id).toBe(winner.id);

    await a.cmd("close-room", { room: "demo" });
    const expected = { msg: { type: "close-room", room: "demo", reason: "test" }, from: a.id };
    await vi.waitFor(() => {
      expect(a.heard).toEqual([expected]);
      expect(b.heard).toEqual([expected]);
    });
  });

  it("sums presence from every node process", async () => {
    const state = supervisor();
    const [a, b] = await Promise.all([startNode(state, 0), startNode(state, 1)]);
    await a.cmd("claim", { room: "show" });
    await a.cmd("presence", { rooms: [presence("show", { origin: true, hasPublisher: true, tracks: 2, viewers: 3, layers: 2 })] });
    await b.cmd("presence", { rooms: [presence("show", { tracks: 2, viewers: 4, layers: 2 })] });
    const rooms = (await b.cmd("rooms")) as ClusterRoom[];
    expect(rooms).toEqual([{ name: "show", origin: a.id, hasPublisher: true, tracks: 2, layers: 2, subscribers: 7, nodes: expect.arrayContaining([{ node: a.id, viewers: 3 }, { node: b.id, viewers: 4 }]) }]);
  });

  it("drops a SIGKILLed node's claims and presence the moment its process exits, and tells the others", async () => {
    const state = supervisor();
    const [a, b] = await Promise.all([startNode(state, 0), startNode(state, 1)]);
    await a.cmd("claim", { room: "r1" });
    await a.cmd("claim", { room: "r2" });
    await a.cmd("presence", { rooms: [presence("r1", { origin: true, viewers: 2 })] });
    expect(state.store.origin("r1")?.id).toBe(a.id);

    a.proc.kill("SIGKILL");
    await a.proc.exited;
    // Nothing to wait for: the channel closed with the process.
    expect(state.store.node(a.id)).toBeUndefined();
    expect(state.store.origin("r1")).toBeUndefined();
    expect(state.store.origin("r2")).toBeUndefined();
    expect(state.store.presence().map((p) => p.node)).toEqual([b.id]);
    await vi.waitFor(() =>
      expect(b.heard).toEqual([
        { msg: { type: "room-closed", room: "r1", node: a.id }, from: a.id },
        { msg: { type: "room-closed", room: "r2", node: a.id }, from: a.id },
        { msg: { type: "node-left", node: a.id }, from: a.id },
      ]),
    );
    expect(await b.cmd("claim", { room: "r1" })).toEqual({ won: true });
  });

  it("pins each node process to a core of its own where the machine allows it", async () => {
    const state = supervisor();
    const proc = spawnWithIpc({ cmd: ["bun", FIXTURE], env: { ...process.env, ROOMCAST_WORKER: "1" } });
    procs.push(proc);
    state.attach(proc.port, "pin");
    const pin = await new Promise<unknown>((resolve) => proc.port.onMessage((m) => (m as { ready?: string; pin?: unknown }).ready && resolve((m as { pin: unknown }).pin)));
    if (process.platform === "linux") {
      const { readFileSync } = await import("node:fs");
      const allowed = readFileSync("/proc/self/status", "utf8").match(/Cpus_allowed_list:\s*(\S+)/)?.[1] ?? "";
      const cpus = allowed.split(",").flatMap((part) => {
        const [lo, hi] = part.split("-").map(Number) as [number, number | undefined];
        return Array.from({ length: (hi ?? lo) - lo + 1 }, (_, i) => lo + i);
      });
      expect(pin).toEqual({ pinned: true, cpu: cpus[1 % cpus.length] });
      const child = readFileSync(`/proc/${proc.pid}/status`, "utf8").match(/Cpus_allowed_list:\s*(\S+)/)?.[1];
      expect(child).toBe(String(cpus[1 % cpus.length]));
    } else {
      expect(pin).toMatchObject({ pinned: false });
    }
  });
});

describe("SupervisorDirectory's channel", () => {
  it("is unavailable for good once the supervisor is gone, refusing calls at once", async () => {
    const state = supervisor();
    const pair = portPair();
    state.attach(pair[0], "node");
    const d = new SupervisorDirectory({ port: pair[1], url: "http://n", report: testReport(), log: silentLog });
    await d.start();
    expect(d.kind).toBe("supervisor");
    await d.claim("demo");
    const changes: string[] = [];
    d.on("state", (s) => changes.push(s));
    pair.close();
    expect(d.state).toBe("unavailable");
    expect(changes).toEqual(["unavailable"]);
    const t0 = performance.now();
    await expect(d.claim("other")).rejects.toBeInstanceOf(DirectoryUnavailableError);
    await expect(d.rooms()).rejects.toBeInstanceOf(DirectoryUnavailableError);
    expect(performance.now() - t0).toBeLessThan(200);
    expect(state.store.nodes()).toEqual([]);
    await d.close();
  });

  it("drops a node that stops beating without exiting, NODE_TTL_MS after its last heartbeat", async () => {
    let now = 0;
    const state = new SupervisorState({ log: silentLog, now: () => now, sweepMs: 0 });
    states.push(state);
    const [p1, p2] = portPair();
    const [q1, q2] = portPair();
    state.attach(p1, "stuck");
    state.attach(q1, "watcher");
    const stuck = new SupervisorDirectory({ port: p2, url: "http://s", report: testReport(), log: silentLog, heartbeatMs: 3_600_000 });
    const watcher = new SupervisorDirectory({ port: q2, url: "http://w", report: testReport(), log: silentLog, heartbeatMs: 3_600_000 });
    await Promise.all([stuck.start(), watcher.start()]);
    await stuck.claim("r");
    const heard: ClusterMessage[] = [];
    watcher.on("message", (msg) => heard.push(msg));
    now = 2000;
    await watcher.refresh();
    now = 2999;
    state.sweep();
    expect(state.store.origin("r")?.id).toBe(stuck.nodeId);
    now = 3000;
    state.sweep();
    expect(state.store.node(stuck.nodeId)).toBeUndefined();
    await vi.waitFor(() => expect(heard).toEqual([{ type: "room-closed", room: "r", node: stuck.nodeId }, { type: "node-left", node: stuck.nodeId }]));
    // It comes back to life: its next heartbeat registers it again and takes its room back, nobody having taken it.
    const lost: string[][] = [];
    stuck.on("lost", (rooms) => lost.push(rooms));
    await stuck.refresh();
    expect(state.store.origin("r")?.id).toBe(stuck.nodeId);
    expect(lost).toEqual([]);
    await Promise.all([stuck.close(), watcher.close()]);
  });

  it("refuses a request the supervisor does not answer in time with DirectoryUnavailableError", async () => {
    const [, nodeSide] = portPair();
    // Nobody serves the other side: a supervisor stuck in a loop.
    const backend = new IpcBackend(nodeSide, { requestTimeoutMs: 100 });
    await backend.connect({ state: () => undefined, message: () => undefined });
    const t0 = performance.now();
    await expect(backend.nodes()).rejects.toBeInstanceOf(DirectoryUnavailableError);
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it("lets a node act only for the id it registered through its own channel, and ignores what is not a request", async () => {
    const state = supervisor();
    const [a1, a2] = portPair();
    const [b1, b2] = portPair();
    state.attach(a1, "a");
    state.attach(b1, "b");
    const a = new SupervisorDirectory({ port: a2, url: "http://a", report: testReport(), log: silentLog });
    await a.start();
    const bBackend = new IpcBackend(b2);
    await bBackend.connect({ state: () => undefined, message: () => undefined });
    // b has not registered; it tries to claim, release and publish as a.
    await expect(bBackend.claim("demo", a.nodeId)).rejects.toThrow(/not this channel's node/);
    await a.claim("demo");
    await expect(bBackend.release("demo", a.nodeId)).rejects.toThrow(/not this channel's node/);
    await expect(bBackend.publish({ from: a.nodeId, msg: { type: "close-room", room: "demo", reason: "x" } })).rejects.toThrow(/not this channel's node/);
    expect(state.store.origin("demo")?.id).toBe(a.nodeId);
    // Garbage on the channel is dropped without an answer or a crash; a malformed request gets a refusal.
    b2.send("junk");
    b2.send({ t: "req" });
    b2.send({ t: "req", id: 1e9, op: "register", req: { id: "no", instance: 1 } });
    await expect(bBackend.claim("../etc", a.nodeId)).rejects.toThrow(/bad room name|not this channel/);
    expect((await a.nodes()).map((n) => n.id)).toEqual([a.nodeId]);
    await a.close();
    expect(state.store.nodes()).toEqual([]);
  });
});
