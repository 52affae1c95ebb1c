// Three nodes from the binary, each its own process on its own ports, around a real redis-server the test starts:
// a libdatachannel (OBS) publisher on one node and viewers on the others (through the relay, once it is in the
// tree), /api/rooms the same on every node, a second publish of the room on another node sent to the origin (307)
// and refused there (409), an admin close from a third node closing it everywhere, the origin SIGKILLed and its
// room gone everywhere within seconds and taken again by its publisher on another node, Redis killed (every node
// keeps serving its own rooms and answers 503 for what needs the directory) and started again (they rejoin).
import type { Browser, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, openServerPage, playInPage, waitForDecodedFrames, waitPageConnected } from "./helpers/browser.ts";
import { RELAY, roomsText, waitJoined } from "./helpers/cluster.ts";
import { ldcPlay, obsPublish, type LdcViewer, type ObsPublisher } from "./helpers/obsClient.ts";
import { startServer, waitFor, type ServerHandle } from "./helpers/server.ts";
import { publisherOffer } from "./helpers/weriftPeers.ts";
import { requireTool } from "../helpers/requireTool.ts";
import { startRedis, type RedisServer } from "../unit/cluster/helpers/redisServer.ts";

requireTool("chromium");

const SECRET = "e2e-cluster-secret-0123456789";
const TOKEN = "room-token-for-everyone";
const ADMIN = "admin-token-of-the-cluster";

interface Node {
  handle: ServerHandle;
  id: string;
  url: string;
}

describe("three nodes around a real Redis", () => {
  let redis: RedisServer;
  let browser: Browser | undefined;
  const nodes: Node[] = [];
  let open: { pubs: ObsPublisher[]; viewers: LdcViewer[]; pages: Page[] } = { pubs: [], viewers: [], pages: [] };

  async function startNode(): Promise<Node> {
    const handle = await startServer({ REDIS_URL: redis.url, CLUSTER_SECRET: SECRET, AUTH_TOKEN: TOKEN, ADMIN_TOKEN: ADMIN, ADMISSION_MAX_CPU: "0" });
    const [joined] = await waitJoined(handle, 1);
    const node = { handle, id: joined?.id as string, url: handle.url };
    expect(joined?.url).toBe(handle.url);
    nodes.push(node);
    return node;
  }

  beforeAll(async () => {
    redis = await startRedis();
    [browser] = await Promise.all([launchChromium(), startNode(), startNode(), startNode()]);
  });
  afterEach(async () => {
    await Promise.allSettled([...open.pubs.map((p) => p.close()), ...open.viewers.map((v) => v.close()), ...open.pages.map((p) => p.close())]);
    open = { pubs: [], viewers: [], pages: [] };
  });
  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await Promise.all(nodes.map((n) => n.handle.stop()));
    await redis?.stop();
  });

  const auth = { Authorization: `Bearer ${TOKEN}` };
  const rooms = (n: Node) => roomsText(n.url, TOKEN);
  const live = () => nodes.filter((n) => n.handle.proc.exitCode === null && n.handle.proc.signalCode === null);

  async function publisher(n: Node, room: string): Promise<ObsPublisher> {
    const pub = await obsPublish(n.url, room, { keyframeIntervalSec: 1, token: TOKEN });
    open.pubs.push(pub);
    return pub;
  }

  async function decodingViewer(n: Node, room: string): Promise<Page> {
    const page = await openServerPage(browser as Browser, n.url);
    open.pages.push(page);
    await playInPage(page, n.url, room, { token: TOKEN });
    await waitPageConnected(page);
    await waitForDecodedFrames(page, 20, 20_000);
    return page;
  }

  /** Viewers of `room` on the nodes that are not its origin: decoding through the relay, or refused before it. */
  async function remoteViewers(edges: Node[], room: string): Promise<number> {
    if (!RELAY) {
      for (const n of edges) {
        const refused = await ldcPlay(n.url, room, { token: TOKEN }).then(
          () => undefined,
          (err: { status?: number; body?: string }) => err,
        );
        expect(refused).toMatchObject({ status: 404, body: JSON.stringify({ error: "no active publisher in room" }) });
      }
      return 0;
    }
    const [first, ...rest] = edges;
    await decodingViewer(first as Node, room);
    for (const n of rest) {
      const v = await ldcPlay(n.url, room, { token: TOKEN });
      open.viewers.push(v);
      await waitFor(() => v.videoPackets > 30 && v.nalTypes.has(5), 10_000, `video through ${n.id}'s relay`);
    }
    return edges.length;
  }

  it("publish on one, play on the others, the same rooms on all; a second publish elsewhere: 307 to the origin, then 409", async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    const room = "redis-show";
    await publisher(a, room);
    const remote = await remoteViewers([b, c], room);
    const expected = JSON.stringify([{ name: room, hasPublisher: true, tracks: 2, subscribers: remote }]);
    for (const n of [a, b, c]) await waitFor(async () => (await rooms(n)) === expected, 10_000, `${n.id} showing the room`);

    const offer = await publisherOffer();
    const headers = { ...auth, "Content-Type": "application/sdp" };
    const sent = await fetch(`${b.url}/api/whip/publish/${room}`, { method: "POST", body: offer, headers, redirect: "manual" });
    expect(sent.status).toBe(307);
    // With auth on, the Location carries a grant for this room: the client's Bearer token does not follow it.
    expect(sent.headers.get("location")).toMatch(new RegExp(`^${a.url}/api/whip/publish/${room}\\?grant=[\\w.-]+$`));
    const followed = await fetch(`${b.url}/api/whip/publish/${room}`, { method: "POST", body: offer, headers });
    expect([followed.status, await followed.json()]).toEqual([409, { error: "publisher already exists in this room" }]);
    for (const n of [a, b, c]) expect((await fetch(`${n.url}/healthz`)).headers.get("x-roomcast-cluster")).toBe("joined");
  });

  it("an admin close from another node closes the room everywhere, its publisher told; 404 once it is gone", async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    const room = "redis-close";
    const pub = await publisher(a, room);
    await remoteViewers([b], room);
    await waitFor(async () => (await rooms(c)).includes(room), 10_000, "C showing the room");
    const close = () => fetch(`${c.url}/api/admin/rooms/${room}/close`, { method: "POST", headers: { Authorization: `Bearer ${ADMIN}` } });
    const closed = await close();
    expect([closed.status, await closed.json()]).toEqual([200, { closed: room }]);
    for (const n of [a, b, c]) await waitFor(async () => (await rooms(n)) === "[]", 5000, `the room gone from ${n.id}`);
    await waitFor(() => pub.stoppedBy !== undefined, 5000, "the publisher told its session ended");
    const again = await close();
    expect([again.status, await again.json()]).toEqual([404, { error: "room not found" }]);
  });

  it("an origin killed: its room gone everywhere within seconds, and its publisher gets it again on another node", async () => {
    const [, b, c] = nodes as [Node, Node, Node];
    const origin = await startNode();
    const room = "redis-kill";
    await publisher(origin, room);
    const pages = RELAY ? [await decodingViewer(b, room)] : [];
    await waitFor(async () => (await rooms(c)).includes(room), 10_000, "C showing the room");
    origin.handle.proc.kill("SIGKILL");
    const killedAt = Date.now();
    // Its records expire after 3 s; every node notices at its next heartbeat.
    for (const n of [b, c]) await waitFor(async () => (await rooms(n)) === "[]", 8000, `the room gone from ${n.id}`);
    expect(Date.now() - killedAt).toBeLessThan(8000);
    for (const page of pages) {
      await page.waitForFunction(() => window.__rc?.pc.connectionState === "closed" || window.__rc?.pc.connectionState === "failed" || window.__rc?.events.some((e) => e.what === "dtlsState" && e.state === "closed"), undefined, { timeout: 5000 });
    }
    // The publisher reconnects elsewhere: the room is free and B takes it.
    await publisher(b, room);
    await decodingViewer(b, room);
    await waitFor(async () => (await rooms(c)).includes(`"name":"${room}","hasPublisher":true`), 5000, "C showing the room on B");
    nodes.splice(nodes.indexOf(origin), 1);
  });

  it("Redis killed: nodes keep serving their rooms, 503 for what needs it; Redis back: they rejoin", async () => {
    const [a, b, c] = live() as [Node, Node, Node];
    const room = "redis-outage";
    await publisher(b, room);
    await waitFor(async () => (await rooms(c)).includes(room), 10_000, "C showing the room");
    await redis.kill();
    for (const n of [a, b, c]) await waitFor(async () => (await fetch(`${n.url}/healthz`)).headers.get("x-roomcast-cluster") === "detached", 5000, `${n.id} detached`);
    // B's own room: a new viewer is served and receives its video.
    const viewer = await ldcPlay(b.url, room, { token: TOKEN });
    open.viewers.push(viewer);
    await waitFor(() => viewer.videoPackets > 30, 10_000, "video to a viewer of B's room during the outage");
    // A new room needs the directory's claim: 503 with Retry-After, a JSON error.
    const refused = await fetch(`${c.url}/api/whip/publish/during-outage`, { method: "POST", body: await publisherOffer(), headers: { ...auth, "Content-Type": "application/sdp" } });
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await refused.json()).toEqual({ error: "cluster directory unavailable, try again shortly" });
    // Every node still answers its health check.
    for (const n of [a, b, c]) expect(await (await fetch(`${n.url}/healthz`)).text()).toBe("ok");
    await redis.start();
    for (const n of [a, b, c]) await waitFor(async () => (await fetch(`${n.url}/healthz`)).headers.get("x-roomcast-cluster") === "joined", 15_000, `${n.id} joined again`);
    // B registered its room again: the others see it, with B's viewer.
    const expected = JSON.stringify([{ name: room, hasPublisher: true, tracks: 2, subscribers: 1 }]);
    for (const n of [a, c]) await waitFor(async () => (await rooms(n)) === expected, 5000, `${n.id} seeing B's room again`);
    const fresh = await publisher(c, "after-outage");
    expect(fresh.location).toContain("/api/whip/publish/after-outage/");
  });
});
