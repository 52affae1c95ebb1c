// WORKERS=2 from the binary: a supervisor and two pinned nodes sharing one HTTP port, each also on its own direct
// port and its own media port from RTC_PORT_MIN..MAX; requests on the shared port reach both; a libdatachannel
// (OBS) publisher on one node, Chromium viewers decoding on each node (on the other one through the relay, once it
// is in the tree); /api/rooms the same from every node; a node SIGKILLed is started again by the supervisor, its
// room ending for the other node's viewers and free for the publisher to take again; SIGTERM stops all, exit 0.
import type { Browser, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, openServerPage, playInPage, waitForDecodedFrames, waitPageConnected } from "./helpers/browser.ts";
import { freeTcpRun, freeUdpRange, getFresh, joinedNodes, nodePids, RELAY, roomsText, waitJoined, type NodeSeen } from "./helpers/cluster.ts";
import { ldcPlay, obsPublish, type LdcViewer, type ObsPublisher } from "./helpers/obsClient.ts";
import { startServer, waitFor, type ServerHandle } from "./helpers/server.ts";
import { requireTool } from "../helpers/requireTool.ts";

requireTool("chromium");

describe("WORKERS=2 from the binary", () => {
  let server: ServerHandle;
  let browser: Browser | undefined;
  let shared: string;
  let range: [number, number];
  let nodes: NodeSeen[];
  let open: { pubs: ObsPublisher[]; viewers: LdcViewer[]; pages: Page[] } = { pubs: [], viewers: [], pages: [] };

  beforeAll(async () => {
    const [port, udp] = await Promise.all([freeTcpRun(3), freeUdpRange(6)]);
    range = udp;
    shared = `http://127.0.0.1:${port}`;
    [server, browser] = await Promise.all([
      startServer({ WORKERS: "2", PORT: String(port), RTC_PORT_MIN: String(udp[0]), RTC_PORT_MAX: String(udp[1]), ADMISSION_MAX_CPU: "0" }),
      launchChromium(),
    ]);
    nodes = await waitJoined(server, 2);
  });
  afterEach(async () => {
    await Promise.allSettled([...open.pubs.map((p) => p.close()), ...open.viewers.map((v) => v.close()), ...open.pages.map((p) => p.close())]);
    open = { pubs: [], viewers: [], pages: [] };
  });
  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await server?.stop("SIGKILL");
  });

  async function publisher(url: string, room: string): Promise<ObsPublisher> {
    const pub = await obsPublish(url, room, { keyframeIntervalSec: 1 });
    open.pubs.push(pub);
    return pub;
  }

  /** A Chromium viewer on `url` (a page of that origin), decoding the room's video. */
  async function decodingViewer(url: string, room: string): Promise<Page> {
    const page = await openServerPage(browser as Browser, url);
    open.pages.push(page);
    await playInPage(page, url, room);
    await waitPageConnected(page);
    await waitForDecodedFrames(page, 20, 20_000);
    return page;
  }

  it("refuses WORKERS without a fixed PORT, which the nodes share", async () => {
    const failed = await startServer({ WORKERS: "2", PORT: "0" }).then(
      (h) => h.stop().then(() => "started"),
      (err: Error) => err.message,
    );
    expect(failed).toMatch(/exited with 1 before listening[\s\S]*WORKERS needs a fixed PORT/);
  });

  it("one HTTP port, a direct port and a media port per node, and requests on the shared port reach both nodes", async () => {
    const port = Number(new URL(shared).port);
    expect(nodes.map((n) => Number(new URL(n.url).port)).sort()).toEqual([port + 1, port + 2]);
    expect(new Set(nodes.map((n) => n.id)).size).toBe(2);
    // Each node on its own slice of the media range (three ports each), so the two never race for one.
    const media = server.lines.filter((l) => l.includes("media on UDP port")).map((l) => (JSON.parse(l) as { udpPort: number }).udpPort);
    expect(media.sort()).toEqual([range[0], range[0] + 3]);
    // Both pinned, each to a core of its own.
    const pinned = server.lines.filter((l) => l.includes("pinned to CPU")).map((l) => (JSON.parse(l) as { cpu: number }).cpu);
    expect(new Set(pinned).size).toBe(2);
    // Connections on the shared port are spread by the kernel: both nodes answer (40 tries: 2^-39 to miss one).
    const answered = new Set<string | undefined>();
    for (let i = 0; i < 40 && answered.size < 2; i++) {
      const res = await getFresh(`${shared}/healthz`);
      expect([res.status, res.body]).toEqual([200, "ok"]);
      answered.add(res.node);
    }
    expect([...answered].sort()).toEqual(nodes.map((n) => n.id).sort());
    for (const n of nodes) {
      expect((await fetch(`${n.url}/healthz`)).headers.get("x-roomcast-cluster")).toBe("joined");
      expect(await (await fetch(`${n.url}/api/health`)).json()).toMatchObject({ status: "ok", node: n.id, cluster: "joined" });
    }
  });

  it("a publisher on one node, Chromium viewers decoding on each node, /api/rooms the same from both", async () => {
    const [origin, edge] = nodes as [NodeSeen, NodeSeen];
    const room = "workers-show";
    await publisher(origin.url, room);
    await decodingViewer(origin.url, room);
    const expected = JSON.stringify([{ name: room, hasPublisher: true, tracks: 2, subscribers: RELAY ? 2 : 1 }]);
    if (RELAY) {
      await decodingViewer(edge.url, room);
    } else {
      // Until the relay is in the tree, the other node has nothing to serve this room's viewers with.
      const refused = await ldcPlay(edge.url, room).then(
        () => undefined,
        (err: { status?: number; body?: string }) => err,
      );
      expect(refused).toMatchObject({ status: 404, body: JSON.stringify({ error: "no active publisher in room" }) });
    }
    for (const url of [shared, origin.url, edge.url]) {
      await waitFor(async () => (await roomsText(url)) === expected, 10_000, `${url} showing the room`);
    }
    // The room's details from the node that is not its origin: the origin's, with where its viewers are.
    const details = (await (await fetch(`${edge.url}/api/rooms/${room}`)).json()) as { publisher: { state: string }; nodes: { node: string; viewers: number }[] };
    expect(details.publisher.state).toBe("connected");
    expect(details.nodes).toContainEqual({ node: origin.id, viewers: 1 });
  });

  it("a node killed is started again by the supervisor; its room ends everywhere and its publisher gets it again", async () => {
    const [origin, edge] = nodes as [NodeSeen, NodeSeen];
    const room = "workers-kill";
    await publisher(origin.url, room);
    const edgePage = RELAY ? await decodingViewer(edge.url, room) : undefined;
    await waitFor(async () => (await roomsText(edge.url)).includes(room), 10_000, "the other node showing the room");
    const pid = nodePids(server).get(origin.id);
    expect(pid).toBeGreaterThan(0);
    const before = joinedNodes(server).length;
    process.kill(pid as number, "SIGKILL");
    // The supervisor sees the channel close: the node, its claim and its presence are gone at once.
    await waitFor(async () => (await roomsText(edge.url)) === "[]", 5000, "the room gone from the other node");
    if (edgePage) {
      // The edge's relay closed with its origin, its viewers told at once (DTLS close), not left to time out.
      await edgePage.waitForFunction(() => window.__rc?.pc.connectionState === "closed" || window.__rc?.pc.connectionState === "failed" || window.__rc?.events.some((e) => e.what === "dtlsState" && e.state === "closed"), undefined, { timeout: 5000 });
    }
    const [restarted] = await waitJoined(server, 1, before);
    expect(server.lines.some((l) => l.includes('"msg":"node died"') && l.includes(`"node":"${origin.id}"`))).toBe(true);
    expect(restarted?.url).toBe(origin.url);
    expect(restarted?.id).not.toBe(origin.id);
    nodes = [restarted as NodeSeen, edge];
    // The publisher comes back through the shared port, wherever it lands, and the room is live again.
    const again = await obsPublish(shared, room, { keyframeIntervalSec: 1 });
    open.pubs.push(again);
    const holder = await waitFor(async () => {
      const d = (await (await fetch(`${edge.url}/api/rooms/${room}`)).json()) as { nodes?: { node: string }[] };
      return d.nodes?.[0]?.node;
    }, 10_000, "the room's origin");
    const url = nodes.find((n) => n.id === holder)?.url;
    expect(url).toBeDefined();
    await decodingViewer(url as string, room);
  });

  it("an edge killed: nobody else notices, and a web player on it reconnects by itself once it is back", async () => {
    const [origin, edge] = nodes as [NodeSeen, NodeSeen];
    const room = "workers-edge";
    const pub = await publisher(origin.url, room);
    const viewer = await decodingViewer(origin.url, room);
    let player: Page | undefined;
    if (RELAY) {
      player = await (browser as Browser).newPage();
      open.pages.push(player);
      await player.goto(`${edge.url}/play/${room}`);
      await player.locator("#player-state", { hasText: "Live" }).waitFor({ timeout: 20_000 });
    }
    const before = joinedNodes(server).length;
    process.kill(nodePids(server).get(edge.id) as number, "SIGKILL");
    const [restarted] = await waitJoined(server, 1, before);
    nodes = [origin, restarted as NodeSeen];
    // The origin's publisher and viewer carry on: more frames decoded after the edge died than before.
    const decoded = async () => (await viewer.evaluate(async () => {
      const stats = await window.__rc?.pc.getStats();
      let frames = 0;
      stats?.forEach((r: { type: string; kind?: string; framesDecoded?: number }) => {
        if (r.type === "inbound-rtp" && r.kind === "video") frames = r.framesDecoded ?? 0;
      });
      return frames;
    })) as number;
    const at = await decoded();
    await waitFor(async () => (await decoded()) > at + 15, 10_000, "the origin's viewer still decoding");
    expect(pub.stoppedBy).toBeUndefined();
    expect(await roomsText(origin.url)).toContain(`"name":"${room}","hasPublisher":true`);
    if (player) {
      // The player saw its stream end and plays again through the restarted node's relay, on its own.
      await player.locator("#player-state", { hasText: "Live" }).waitFor({ timeout: 30_000 });
      const t0 = (await player.evaluate(() => (document.querySelector("#player-video") as HTMLVideoElement).currentTime)) as number;
      await waitFor(async () => ((await player.evaluate(() => (document.querySelector("#player-video") as HTMLVideoElement).currentTime)) as number) > t0 + 1, 10_000, "the player's video advancing again");
    }
  });

  it("SIGTERM to the supervisor stops every node cleanly: exit 0", async () => {
    const pids = [...nodePids(server).values()];
    expect(await server.stop("SIGTERM")).toBe(0);
    expect(server.lines.filter((l) => l.includes('"msg":"node stopped"') && l.includes('"code":0')).length).toBe(2);
    // No node outlives its supervisor.
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  });
});
