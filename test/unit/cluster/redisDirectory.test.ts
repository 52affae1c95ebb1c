// RedisDirectory against a real redis-server: registration and id collisions, claim races, a dead node's record
// and claims expiring, the bus, presence summed over nodes, malformed values left by someone else, and Redis
// killed and started again (calls refused at once meanwhile, rooms re-claimed or reported lost after).
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { DirectoryUnavailableError, type ClusterMessage, type DirectoryState } from "../../../src/cluster/directory.ts";
import { NodeDirectory } from "../../../src/cluster/nodeDirectory.ts";
import { RedisBackend, RedisDirectory } from "../../../src/cluster/redisDirectory.ts";
import { startRedis, type RedisServer } from "./helpers/redisServer.ts";
import { presence, silentLog, testReport, type TestReport } from "./helpers/report.ts";
import { startProxy } from "./helpers/tcpProxy.ts";

let redis: RedisServer;
let raw: Redis;
beforeAll(async () => {
  redis = await startRedis();
  raw = new Redis(redis.url);
});
afterAll(async () => {
  raw.disconnect();
  await redis.stop();
});

const open: NodeDirectory[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.close()));
});

let cluster = 0;
/** Each test its own key prefix: its own cluster in the one Redis. */
function nextPrefix(): string {
  return `t${++cluster}:`;
}

function node(prefix: string, opts: { url?: string; report?: TestReport; newId?: () => string; redisUrl?: string } = {}) {
  const report = opts.report ?? testReport();
  const dir = new RedisDirectory({
    redisUrl: opts.redisUrl ?? redis.url,
    prefix,
    url: opts.url ?? "http://127.0.0.1:1",
    report,
    log: silentLog,
    newId: opts.newId,
  });
  open.push(dir);
  return Object.assign(dir, { report });
}

describe("RedisDirectory", () => {
  it("registers each node under a 4-character id with its url, start time and load", async () => {
    const prefix = nextPrefix();
    const a = node(prefix, { url: "http://10.0.0.1:8081", report: testReport({ viewers: 7 }) });
    const b = node(prefix, { url: "http://10.0.0.2:8081" });
    const [ida, idb] = await Promise.all([a.start(), b.start()]);
    expect(ida).toMatch(/^[A-Za-z0-9_-]{4}$/);
    expect(idb).not.toBe(ida);
    const nodes = await b.nodes();
    expect(nodes.map((n) => n.id).sort()).toEqual([ida, idb].sort());
    const na = nodes.find((n) => n.id === ida);
    expect(na).toMatchObject({ url: "http://10.0.0.1:8081", load: { viewers: 7, headroomPps: 10_000 } });
    expect(na?.startedAt).toBeGreaterThan(Date.now() - 60_000);
    expect(a.state).toBe("connected");
  });

  it("takes another id when the random one belongs to a live node", async () => {
    const prefix = nextPrefix();
    const a = node(prefix, { newId: () => "AAAA" });
    await a.start();
    const ids = ["AAAA", "AAAA", "BBBB"];
    const b = node(prefix, { newId: () => ids.shift() as string });
    expect(await b.start()).toBe("BBBB");
    expect(a.nodeId).toBe("AAAA");
    expect((await a.nodes()).map((n) => n.id)).toEqual(["AAAA", "BBBB"]);
  });

  it("gives a room to exactly one of two nodes claiming it at once, and tells the other who holds it", async () => {
    const prefix = nextPrefix();
    const a = node(prefix, { url: "http://a" });
    const b = node(prefix, { url: "http://b" });
    await Promise.all([a.start(), b.start()]);
    for (let i = 0; i < 25; i++) {
      const room = `race-${i}`;
      const [ra, rb] = await Promise.all([a.claim(room), b.claim(room)]);
      expect([ra.won, rb.won].filter(Boolean)).toHaveLength(1);
      const loser = ra.won ? rb : ra;
      const winner = ra.won ? a : b;
      expect(loser).toEqual({ won: false, origin: expect.objectContaining({ id: winner.nodeId, url: winner.report === a.report ? "http://a" : "http://b" }) });
      expect((await a.origin(room))?.id).toBe(winner.nodeId);
    }
  });

  it("claims idempotently, releases only its own claim, and frees the room on release", async () => {
    const prefix = nextPrefix();
    const a = node(prefix);
    const b = node(prefix);
    await Promise.all([a.start(), b.start()]);
    expect(await a.claim("demo")).toEqual({ won: true });
    expect(await a.claim("demo")).toEqual({ won: true });
    await b.release("demo");
    expect((await b.origin("demo"))?.id).toBe(a.nodeId);
    await a.release("demo");
    expect(await b.origin("demo")).toBeUndefined();
    expect(await b.claim("demo")).toEqual({ won: true });
    // The released room is not taken back by a's next heartbeat.
    await a.refresh();
    expect((await a.origin("demo"))?.id).toBe(b.nodeId);
  });

  it("refreshes a live node's record and claims with each heartbeat", async () => {
    const prefix = nextPrefix();
    const a = node(prefix);
    await a.start();
    await a.claim("kept");
    expect(await raw.pttl(`${prefix}origin:kept`)).toBeLessThanOrEqual(3000);
    await new Promise((r) => setTimeout(r, 500));
    const aged = await raw.pttl(`${prefix}origin:kept`);
    expect(aged).toBeLessThan(2600);
    await a.refresh();
    expect(await raw.pttl(`${prefix}origin:kept`)).toBeGreaterThan(aged + 300);
    expect(await raw.pttl(`${prefix}node:${a.nodeId}`)).toBeGreaterThan(aged + 300);
    expect(await raw.pttl(`${prefix}presence:${a.nodeId}`)).toBeGreaterThan(aged + 300);
    expect(await raw.get(`${prefix}origin:kept`)).toBe(a.nodeId);
  });

  it("drops a node whose heartbeat stopped within 3 s, and frees its claims", async () => {
    const prefix = nextPrefix();
    const backend = new RedisBackend({ url: redis.url, log: silentLog, prefix });
    const dead = new NodeDirectory(backend, { url: "http://dead", report: testReport(), log: silentLog });
    open.push(dead);
    const b = node(prefix);
    await Promise.all([dead.start(), b.start()]);
    await dead.claim("orphan");
    await dead.refresh();
    await b.refresh();
    const heard: ClusterMessage[] = [];
    b.on("message", (msg) => heard.push(msg));
    // The process "dies": its connection goes without a word, no leave, no more heartbeats.
    const diedAt = Date.now();
    await backend.close();
    expect((await b.nodes()).map((n) => n.id)).toContain(dead.nodeId);
    expect(await b.claim("orphan")).toMatchObject({ won: false });
    await vi.waitFor(async () => expect((await b.nodes()).map((n) => n.id)).not.toContain(dead.nodeId), { timeout: 4000, interval: 50 });
    // Redis times the PX itself; the slack is for this poll on a busy machine, not for the TTL.
    expect(Date.now() - diedAt).toBeLessThanOrEqual(3000 + 700);
    expect(await b.origin("orphan")).toBeUndefined();
    expect(await b.claim("orphan")).toEqual({ won: true });
    // Nobody said it on the bus; b's own heartbeat saw the record gone and told its listeners.
    await vi.waitFor(() => expect(heard).toEqual([{ type: "node-left", node: dead.nodeId }]), { timeout: 1500, interval: 20 });
  });

  it("removes a node that closes at once, with its claims and presence", async () => {
    const prefix = nextPrefix();
    const a = node(prefix);
    const b = node(prefix);
    await Promise.all([a.start(), b.start()]);
    await a.claim("gone");
    a.report.rooms = [presence("gone", { origin: true, hasPublisher: true, viewers: 1 })];
    await a.refresh();
    expect((await b.rooms()).map((r) => r.name)).toEqual(["gone"]);
    const id = a.nodeId;
    const heard: ClusterMessage[] = [];
    b.on("message", (msg) => heard.push(msg));
    await a.close();
    expect((await b.nodes()).map((n) => n.id)).not.toContain(id);
    expect(await b.rooms()).toEqual([]);
    expect(await b.claim("gone")).toEqual({ won: true });
    await expect(a.claim("x")).rejects.toThrow(/closed/);
    await vi.waitFor(() => expect(heard).toEqual([{ type: "room-closed", room: "gone", node: id }, { type: "node-left", node: id }]));
    // Heard on the bus, so not reported a second time when b's heartbeat finds the record gone.
    await b.refresh();
    await new Promise((r) => setTimeout(r, 50));
    expect(heard).toHaveLength(2);
  });

  it("carries every bus message to every node, the sender included, and drops malformed ones", async () => {
    const prefix = nextPrefix();
    const nodes = [node(prefix), node(prefix), node(prefix)];
    await Promise.all(nodes.map((n) => n.start()));
    const heard = nodes.map(() => [] as { msg: ClusterMessage; from: string }[]);
    nodes.forEach((n, i) => n.on("message", (msg, from) => heard[i]?.push({ msg, from })));
    // Someone else's junk on our channel: not JSON, the wrong shape, an unknown type, a bad room name.
    for (const junk of ["{", "[]", JSON.stringify({ from: "AAAA", msg: { type: "reboot" } }), JSON.stringify({ from: "AAAA", msg: { type: "close-room", room: "../x", reason: "" } })]) {
      await raw.publish(`${prefix}bus`, junk);
    }
    const sent: ClusterMessage[] = [
      { type: "close-room", room: "demo", reason: "closed by admin" },
      { type: "delete-recording", name: "demo_video0_1710123456.ivf" },
      { type: "end-session", sessionId: "AAAAbbbbccccddddeeeeffffgggghhhh", reason: "ended by admin" },
    ];
    for (const msg of sent) await nodes[1]?.publish(msg);
    for (const list of heard) {
      await vi.waitFor(() => expect(list).toHaveLength(3), { timeout: 2000, interval: 20 });
      expect(list).toEqual(sent.map((msg) => ({ msg, from: nodes[1]?.nodeId })));
    }
  });

  it("sums a room's viewers over the nodes that serve it, with the origin's counts", async () => {
    const prefix = nextPrefix();
    const [a, b, c] = [node(prefix), node(prefix), node(prefix)];
    await Promise.all([a.start(), b.start(), c.start()]);
    a.report.rooms = [presence("show", { origin: true, hasPublisher: true, tracks: 2, viewers: 4, layers: 3 }), presence("solo", { origin: true, hasPublisher: true, tracks: 1, viewers: 0, layers: 1 })];
    b.report.rooms = [presence("show", { tracks: 2, viewers: 10, layers: 3 })];
    await Promise.all([a.refresh(), b.refresh()]);
    const rooms = await c.rooms();
    expect(rooms).toEqual([
      {
        name: "show",
        origin: a.nodeId,
        hasPublisher: true,
        tracks: 2,
        layers: 3,
        subscribers: 14,
        nodes: expect.arrayContaining([
          { node: a.nodeId, viewers: 4 },
          { node: b.nodeId, viewers: 10 },
        ]),
      },
      { name: "solo", origin: a.nodeId, hasPublisher: true, tracks: 1, layers: 1, subscribers: 0, nodes: [{ node: a.nodeId, viewers: 0 }] },
    ]);
    // A node's own presence is read fresh, not as of its last heartbeat.
    c.report.rooms = [presence("show", { viewers: 1 })];
    expect((await c.rooms())[0]?.subscribers).toBe(15);
  });

  it("leaves out node records and presence it cannot parse", async () => {
    const prefix = nextPrefix();
    const a = node(prefix);
    await a.start();
    a.report.rooms = [presence("ok", { origin: true, viewers: 2 })];
    await a.refresh();
    await raw.hset(`${prefix}node:ZZZZ`, "instance", "x", "info", "not json");
    await raw.sadd(`${prefix}nodes`, "ZZZZ");
    await raw.hset(`${prefix}node:YYYY`, "instance", "y", "info", JSON.stringify({ id: "YYYY", url: "http://y", startedAt: 1, load: { cpu: 0, viewers: 0, rooms: 0, headroomPps: 0 } }));
    await raw.sadd(`${prefix}nodes`, "YYYY");
    await raw.set(`${prefix}presence:YYYY`, JSON.stringify([{ room: "../etc", origin: true }, "x", { room: "fine", origin: false, hasPublisher: false, tracks: 0, viewers: 5, layers: 0 }]));
    expect((await a.nodes()).map((n) => n.id).sort()).toEqual([a.nodeId, "YYYY"].sort());
    expect((await a.rooms()).map((r) => [r.name, r.subscribers])).toEqual([
      ["fine", 5],
      ["ok", 2],
    ]);
  });

  it("rejects start at once when Redis cannot be reached in time", async () => {
    const d = node(nextPrefix(), { redisUrl: "redis://127.0.0.1:1" });
    const started = Date.now();
    const failing = new NodeDirectory(new RedisBackend({ url: "redis://127.0.0.1:1", log: silentLog }), {
      url: "http://x",
      report: testReport(),
      log: silentLog,
      connectTimeoutMs: 300,
    });
    open.push(failing);
    await expect(failing.start()).rejects.toBeInstanceOf(DirectoryUnavailableError);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(failing.state).toBe("unavailable");
    expect(() => d.nodeId).toThrow(/not started/);
  });
});

describe("RedisDirectory when Redis goes away", () => {
  let own: RedisServer;
  beforeAll(async () => {
    own = await startRedis();
  });
  afterAll(() => own.stop());

  it("refuses calls at once while Redis is down, then rejoins, re-claims, and reports a room taken meanwhile", async () => {
    // a reaches Redis through a proxy the test holds closed after the restart, so b is back first and takes r1.
    const proxy = await startProxy(own.port);
    const prefix = nextPrefix();
    const a = node(prefix, { redisUrl: `redis://127.0.0.1:${proxy.port}` });
    const b = node(prefix, { redisUrl: own.url });
    await Promise.all([a.start(), b.start()]);
    const idA = a.nodeId;
    await a.claim("r0");
    await a.claim("r1");
    const states: DirectoryState[] = [];
    a.on("state", (s) => states.push(s));
    const lost: string[][] = [];
    a.on("lost", (rooms) => lost.push(rooms));

    await own.kill();
    await vi.waitFor(() => expect(a.state).toBe("unavailable"), { timeout: 2000, interval: 10 });
    await vi.waitFor(() => expect(b.state).toBe("unavailable"), { timeout: 2000, interval: 10 });
    for (const call of [() => a.claim("r2"), () => a.nodes(), () => a.rooms(), () => a.origin("r0"), () => a.publish({ type: "node-left", node: idA })]) {
      const t0 = performance.now();
      await expect(call()).rejects.toBeInstanceOf(DirectoryUnavailableError);
      // At once: not after the 1 s command timeout.
      expect(performance.now() - t0).toBeLessThan(200);
    }

    proxy.block();
    await own.start();
    await vi.waitFor(() => expect(b.state).toBe("connected"), { timeout: 5000, interval: 20 });
    // Redis came back empty: b registers again by itself, and takes the room a still thinks is its own.
    await vi.waitFor(async () => expect((await b.nodes()).map((n) => n.id)).toContain(b.nodeId), { timeout: 3000, interval: 20 });
    expect(await b.claim("r1")).toEqual({ won: true });
    expect(a.state).toBe("unavailable");

    proxy.unblock();
    await vi.waitFor(() => expect(lost).toEqual([["r1"]]), { timeout: 5000, interval: 20 });
    expect(states).toEqual(["unavailable", "connected"]);
    expect(a.nodeId).toBe(idA);
    expect((await b.origin("r0"))?.id).toBe(idA);
    expect((await b.origin("r1"))?.id).toBe(b.nodeId);
    expect([...a.claims]).toEqual(["r0"]);
    expect((await b.nodes()).map((n) => n.id).sort()).toEqual([idA, b.nodeId].sort());
    await proxy.close();
  });
});
