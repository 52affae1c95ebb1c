// The cluster's routing decisions on whole Servers in one process, around a real redis-server: where a publish
// goes (307 to the origin, then the origin's own 409), session requests forwarded to the node that holds them,
// the one view of the rooms from every node, an admin close from any node, 307 at capacity to the node with the
// most headroom and 503 when none has any, and what each node still serves and refuses while Redis is away.
import "../../src/polyfills.ts";
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { Server } from "../../src/server.ts";
import { waitFor } from "../e2e/helpers/server.ts";
import { play, publish, publisherOffer, viewerOffer, type WeriftPublisher, type WeriftViewer } from "../e2e/helpers/weriftPeers.ts";
import { startRedis, type RedisServer } from "../unit/cluster/helpers/redisServer.ts";
import { startProxy } from "../unit/cluster/helpers/tcpProxy.ts";

const SECRET = "cluster-test-secret-0123456789";
const ADMIN = "admin-token-for-the-cluster";

interface Node {
  server: Server;
  url: string;
  id: string;
}

const nodes: Node[] = [];
const peers: (WeriftPublisher | WeriftViewer)[] = [];
let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close().catch(() => undefined)));
  await Promise.all(nodes.splice(0).map((n) => n.server.close("test done")));
  if (redis) {
    // The next test's cluster starts empty: a fresh Redis on the same port.
    await redis.kill();
    await redis.start();
  }
});

async function startNode(env: Record<string, string> = {}): Promise<Node> {
  const config = loadConfig({
    PORT: "0",
    HOST: "127.0.0.1",
    ANNOUNCED_IPS: "127.0.0.1",
    RATE_LIMIT_RPS: "0",
    ADMISSION_MAX_CPU: "0",
    REDIS_URL: redis.url,
    CLUSTER_SECRET: SECRET,
    ...env,
  });
  const server = await Server.start(config, { log: pino({ level: "silent" }) });
  const node = { server, url: `http://127.0.0.1:${server.port}`, id: server.cluster.id };
  nodes.push(node);
  return node;
}

/** The events of a GET /api/events stream as they arrive, until `signal` aborts it. */
async function sse(url: string, signal: AbortSignal): Promise<{ event: string; data: Record<string, unknown> }[]> {
  const events: { event: string; data: Record<string, unknown> }[] = [];
  const res = await fetch(url, { signal });
  void (async () => {
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of res.body as ReadableStream<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data) as Record<string, unknown> });
      }
    }
  })().catch(() => undefined);
  return events;
}

const post = (url: string, sdp: string) => fetch(url, { method: "POST", body: sdp, headers: { "Content-Type": "application/sdp" }, redirect: "manual" });
const json = async (url: string, init?: RequestInit) => {
  const res = await fetch(url, init);
  return { status: res.status, headers: res.headers, body: (await res.json()) as unknown };
};

describe("a cluster of servers around Redis", () => {
  it("a publish lands on the room's origin: 307 from another node (same path and query), then the origin's 409", async () => {
    const [a, b] = [await startNode(), await startNode()];
    const pub = await publish(a.url, "show");
    peers.push(pub);
    const offer = await publisherOffer();
    const res = await post(`${b.url}/api/whip/publish/show?ladder=off`, offer);
    expect(res.status).toBe(307);
    expect(res.headers.get("location")).toBe(`${a.url}/api/whip/publish/show?ladder=off`);
    // A WHIP client follows it with the same body: the origin refuses a second publisher, as one server does.
    const followed = await fetch(`${b.url}/api/whip/publish/show`, { method: "POST", body: offer, headers: { "Content-Type": "application/sdp" } });
    expect(followed.status).toBe(409);
    expect(await followed.json()).toEqual({ error: "publisher already exists in this room" });
    // A room nobody holds is claimed where it lands.
    const other = await publish(b.url, "other");
    peers.push(other);
    expect(b.server.cluster.isOrigin("other")).toBe(true);
    expect(a.server.cluster.isOrigin("other")).toBe(false);
  });

  it("with auth on, a redirect carries a grant for its room and action, which the client's token need not follow", async () => {
    const env = { AUTH_TOKEN: "room-token-for-all" };
    const [a, b] = [await startNode(env), await startNode(env)];
    const pub = await publish(a.url, "granted", { token: "room-token-for-all" });
    peers.push(pub);
    const offer = await publisherOffer();
    const withToken = { "Content-Type": "application/sdp", Authorization: "Bearer room-token-for-all" };
    const sent = await fetch(`${b.url}/api/whip/publish/granted?x=1&grant=old`, { method: "POST", body: offer, headers: withToken, redirect: "manual" });
    expect(sent.status).toBe(307);
    const location = new URL(sent.headers.get("location") as string);
    expect(`${location.origin}${location.pathname}`).toBe(`${a.url}/api/whip/publish/granted`);
    expect(location.searchParams.get("x")).toBe("1");
    const grant = location.searchParams.get("grant") as string;
    expect(grant).not.toBe("old");
    // Followed without the Authorization header (fetch drops it across origins): the grant lets it in, to A's 409.
    const bare = { "Content-Type": "application/sdp" };
    const followed = await fetch(location, { method: "POST", body: offer, headers: bare });
    expect([followed.status, await followed.json()]).toEqual([409, { error: "publisher already exists in this room" }]);
    // For that room and action only: not another room, not a play, not a forged one.
    expect((await post(`${a.url}/api/whip/publish/elsewhere?grant=${grant}`, offer)).status).toBe(401);
    expect((await post(`${a.url}/api/whep/play/granted?grant=${grant}`, await viewerOffer())).status).toBe(401);
    expect((await post(`${a.url}/api/whip/publish/granted?grant=${grant.slice(0, -2)}xx`, offer)).status).toBe(401);
  });

  it("session requests reach the session whichever node they land on; an unknown node's session is 404", async () => {
    const [a, b] = [await startNode(), await startNode()];
    const pub = await publish(a.url, "fwd");
    peers.push(pub);
    const viewer = await play(a.url, "fwd");
    peers.push(viewer);
    const path = new URL(viewer.location).pathname;
    expect(path.split("/").pop()?.slice(0, 4)).toBe(a.id);
    // A trickle PATCH through B gets the origin's answers: 204 for a candidate, 412 for an ETag that is not its.
    const frag = "a=mid:0\r\na=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n";
    const sdpfrag = { "Content-Type": "application/trickle-ice-sdpfrag" };
    expect((await fetch(`${b.url}${path}`, { method: "PATCH", body: frag, headers: sdpfrag })).status).toBe(204);
    const stale = await fetch(`${b.url}${path}`, { method: "PATCH", body: frag, headers: { ...sdpfrag, "If-Match": '"nope"' } });
    expect([stale.status, await stale.json()]).toEqual([412, { error: "If-Match does not match the session's ETag" }]);
    // The layer list through B, then the DELETE through B ends the session on A.
    expect(await json(`${b.url}${path}/layer`)).toMatchObject({ status: 200, body: { layers: expect.any(Array) } });
    // The session's WHEP event stream through B: made, long-pulled (streamed through), and deleted on A.
    const made = await fetch(`${b.url}${path}/events`, { method: "POST", body: JSON.stringify(["active", "viewercount"]), headers: { "Content-Type": "application/json" } });
    expect(made.status).toBe(201);
    const stream = made.headers.get("location") as string;
    expect(stream).toMatch(new RegExp(`^${path}/events/[0-9a-f]{32}$`));
    const abort = new AbortController();
    const pulled = await fetch(`${b.url}${stream}`, { signal: abort.signal });
    expect([pulled.status, pulled.headers.get("content-type")]).toEqual([200, "text/event-stream; charset=utf-8"]);
    const reader = (pulled.body as ReadableStream<Uint8Array>).getReader();
    let text = "";
    const until = Date.now() + 5000;
    while (!/event: viewercount/.test(text) && Date.now() < until) {
      const chunk = await reader.read();
      if (chunk.done) break;
      text += new TextDecoder().decode(chunk.value);
    }
    abort.abort();
    expect(text).toMatch(/event: viewercount\ndata: \{"viewercount":1\}/);
    expect(await json(`${b.url}${stream}`, { method: "DELETE" })).toMatchObject({ status: 200, body: { ok: true } });
    const deleted = await json(`${b.url}${path}`, { method: "DELETE" });
    expect(deleted).toMatchObject({ status: 200, body: { ok: true } });
    await waitFor(() => a.server.registry.get("fwd")?.viewers.size === 0, 5000, "the viewer gone from A");
    // A second DELETE is A's 404, through B.
    expect(await json(`${b.url}${path}`, { method: "DELETE" })).toMatchObject({ status: 404, body: { error: "session not found" } });
    // A request already forwarded once is answered where it lands: B does not hold it.
    expect((await fetch(`${b.url}${path}`, { method: "DELETE", headers: { "X-Roomcast-Forwarded": "1" } })).status).toBe(404);
    // A session id of a node that is not in the cluster: 404, and a malformed one too.
    const ghost = path.replace(/\/[^/]{4}([^/]{28})$/, "/ZZZZ$1");
    expect(await json(`${b.url}${ghost}`, { method: "DELETE" })).toMatchObject({ status: 404, body: { error: "session not found" } });
    expect((await fetch(`${b.url}/api/whep/play/fwd/short`, { method: "DELETE" })).status).toBe(404);
    // The client's own credentials are checked by the node it reached, before anything is forwarded.
    const guarded = await startNode({ AUTH_TOKEN: "viewer-token-123" });
    expect((await fetch(`${guarded.url}${path}`, { method: "DELETE" })).status).toBe(401);
  });

  it("every node shows the same rooms with viewers summed, a room's details from its origin with its nodes", async () => {
    const [a, b, c] = [await startNode(), await startNode(), await startNode()];
    const pub = await publish(a.url, "seen");
    peers.push(pub);
    const v1 = await play(a.url, "seen");
    const v2 = await play(a.url, "seen");
    peers.push(v1, v2);
    const expected = [{ name: "seen", hasPublisher: true, tracks: 2, subscribers: 2 }];
    for (const n of [a, b, c]) {
      await waitFor(async () => JSON.stringify((await json(`${n.url}/api/rooms`)).body) === JSON.stringify(expected), 5000, `node ${n.id} showing the room`);
    }
    const fromC = await json(`${c.url}/api/rooms/seen`);
    expect(fromC.status).toBe(200);
    expect(fromC.body).toMatchObject({ name: "seen", hasPublisher: true, subscribers: 2, nodes: [{ node: a.id, viewers: 2 }] });
    expect((fromC.body as { viewers: unknown[] }).viewers).toHaveLength(2);
    expect((fromC.body as { publisher: { state: string } }).publisher.state).toBe("connected");
    // The origin answers the same.
    expect((await json(`${a.url}/api/rooms/seen`)).body).toMatchObject({ subscribers: 2, nodes: [{ node: a.id, viewers: 2 }] });
    expect(await json(`${b.url}/api/rooms/nowhere`)).toMatchObject({ status: 404, body: { error: "room not found" } });
    // In the cluster and saying so; /metrics says which node it describes.
    const health = await fetch(`${b.url}/healthz`);
    expect([health.status, await health.text(), health.headers.get("x-roomcast-cluster")]).toEqual([200, "ok", "joined"]);
    expect(await (await fetch(`${b.url}/api/health`)).json()).toMatchObject({ status: "ok", node: b.id, cluster: "joined", rooms: 0 });
    expect(health.headers.get("x-roomcast-node")).toBe(b.id);
    const metrics = await (await fetch(`${a.url}/metrics`)).text();
    expect(metrics).toContain(`live_subscribers{room="seen",node="${a.id}"} 2`);
    expect(metrics).toContain(`roomcast_cluster_directory_connected{node="${a.id}"} 1`);
  });

  it("/api/events on any node: other nodes' rooms opened and closed, with viewers summed over the nodes", async () => {
    const [a, b] = [await startNode(), await startNode()];
    const abort = new AbortController();
    try {
      const events = await sse(`${b.url}/api/events`, abort.signal);
      await waitFor(() => events.length > 0, 5000, "the rooms event");
      expect(events[0]).toEqual({ event: "rooms", data: [] });
      const pub = await publish(a.url, "remote-live");
      peers.push(pub);
      const opened = await waitFor(() => events.find((e) => e.event === "room-opened"), 5000, "room-opened from A's room");
      expect(opened.data).toMatchObject({ room: "remote-live", hasPublisher: true, viewers: 0 });
      const viewer = await play(a.url, "remote-live");
      peers.push(viewer);
      await waitFor(() => events.some((e) => e.event === "viewers" && e.data["room"] === "remote-live" && e.data["viewers"] === 1), 5000, "A's viewer counted on B");
      // Its stats each second, with the origin's figures.
      const sending = pub.sendVideo(150, 20);
      await waitFor(() => events.some((e) => e.event === "stats" && e.data["room"] === "remote-live" && (e.data["bitrate"] as number) > 0 && e.data["viewers"] === 1), 8000, "stats with A's bitrate");
      // A client that connects now has it in its first list.
      const late = await sse(`${b.url}/api/events`, abort.signal);
      await waitFor(() => late.length > 0, 5000, "the late client's rooms event");
      expect(late[0]).toMatchObject({ event: "rooms", data: [{ room: "remote-live", hasPublisher: true, viewers: 1 }] });
      await sending;
      await pub.close();
      await waitFor(() => events.some((e) => e.event === "room-closed" && e.data["room"] === "remote-live"), 5000, "room-closed from A");
    } finally {
      abort.abort();
    }
  });

  it("an admin close on any node closes the room on its origin: 200, then 404 everywhere", async () => {
    // An admin token alone guards the admin API; the rooms take anyone's token (AUTH_TOKEN).
    const env = { ADMIN_TOKEN: ADMIN, AUTH_TOKEN: "room-token-for-all" };
    const [a, b] = [await startNode(env), await startNode(env)];
    const pub = await publish(a.url, "closing", { token: "room-token-for-all" });
    peers.push(pub);
    const rooms = (n: Node) => json(`${n.url}/api/rooms`, { headers: { Authorization: "Bearer room-token-for-all" } });
    await waitFor(async () => ((await rooms(b)).body as unknown[]).length === 1, 5000, "B seeing the room");
    const auth = { Authorization: `Bearer ${ADMIN}` };
    expect((await fetch(`${b.url}/api/admin/rooms/closing/close`, { method: "POST" })).status).toBe(401);
    expect(await json(`${b.url}/api/admin/rooms/closing/close`, { method: "POST", headers: auth })).toMatchObject({ status: 200, body: { closed: "closing" } });
    await waitFor(() => a.server.registry.get("closing") === undefined, 5000, "the room closed on its origin");
    await waitFor(async () => ((await rooms(b)).body as unknown[]).length === 0, 5000, "B seeing it gone");
    expect(await json(`${a.url}/api/admin/rooms/closing/close`, { method: "POST", headers: auth })).toMatchObject({ status: 404, body: { error: "room not found" } });
    expect(await json(`${b.url}/api/admin/rooms/closing/close`, { method: "POST", headers: auth })).toMatchObject({ status: 404 });
  });

  it("a viewer a node cannot admit is sent to the node with the most headroom; 503 with Retry-After when none can", async () => {
    // Admission at a limit no process can be under: every viewer is refused by these nodes.
    const full = await startNode({ ADMISSION_MAX_CPU: "0.00001" });
    const pub = await publish(full.url, "busy");
    peers.push(pub);
    const offer = await viewerOffer();
    // Refused from its first CPU sample on (before it, an idle server fits anything).
    await waitFor(() => full.server.load.current !== undefined, 5000, "a load sample");
    const alone = await post(`${full.url}/api/whep/play/busy`, offer);
    expect(alone.status).toBe(503);
    expect(alone.headers.get("retry-after")).toBeTruthy();
    expect(await alone.json()).toEqual({ error: "server is at capacity, try again shortly" });
    const alsoFull = await startNode({ ADMISSION_MAX_CPU: "0.00001" });
    await waitFor(async () => (await full.server.cluster.node(alsoFull.id)) !== undefined, 5000, "both nodes listed");
    expect((await post(`${full.url}/api/whep/play/busy`, offer)).status).toBe(503);
    const roomy = await startNode();
    await waitFor(async () => (await full.server.cluster.placeViewer(0))?.id === roomy.id, 5000, "the roomy node listed");
    const sent = await post(`${full.url}/api/whep/play/busy?layer=h`, offer);
    expect(sent.status).toBe(307);
    expect(sent.headers.get("location")).toBe(`${roomy.url}/api/whep/play/busy?layer=h`);
    expect(alsoFull.id).not.toBe(roomy.id);
  });

  it("Redis away: a node serves its own rooms, answers 503 for what needs the directory, and rejoins", async () => {
    const [a, b] = [await startNode(), await startNode()];
    const pub = await publish(a.url, "mine");
    peers.push(pub);
    await waitFor(async () => ((await json(`${b.url}/api/rooms`)).body as unknown[]).length === 1, 5000, "B seeing the room");
    await redis.kill();
    const status = async (n: Node) => (await fetch(`${n.url}/healthz`)).headers.get("x-roomcast-cluster");
    await waitFor(async () => (await status(a)) === "detached", 5000, "A detached");
    expect(await (await fetch(`${a.url}/api/health`)).json()).toMatchObject({ status: "ok", node: a.id, cluster: "detached" });
    // Its own room: a new viewer is served as ever.
    const viewer = await play(a.url, "mine");
    peers.push(viewer);
    // A new room needs its claim, a room not here needs its origin: 503 with Retry-After, the body JSON.
    for (const res of [await post(`${a.url}/api/whip/publish/fresh`, await publisherOffer()), await post(`${a.url}/api/whep/play/elsewhere`, await viewerOffer())]) {
      expect(res.status).toBe(503);
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(await res.json()).toEqual({ error: "cluster directory unavailable, try again shortly" });
    }
    // The room list is the node's own, and says so.
    const listed = await json(`${a.url}/api/rooms`);
    expect([listed.status, listed.headers.get("x-roomcast-cluster"), listed.body]).toEqual([200, "detached", [{ name: "mine", hasPublisher: true, tracks: 2, subscribers: 1 }]]);
    await redis.start();
    await waitFor(async () => (await status(a)) === "joined" && (await status(b)) === "joined", 10_000, "both rejoined");
    // A's heartbeat registered it again with its room: B sees it, and a new room is claimed again.
    await waitFor(async () => JSON.stringify((await json(`${b.url}/api/rooms`)).body) === JSON.stringify([{ name: "mine", hasPublisher: true, tracks: 2, subscribers: 1 }]), 5000, "B seeing A's room again");
    const fresh = await publish(a.url, "fresh");
    peers.push(fresh);
  });

  it("a room claimed elsewhere while its node was cut from Redis is closed there when it is back, its publisher told", async () => {
    const proxy = await startProxy(redis.port);
    try {
      const a = await startNode({ REDIS_URL: `redis://127.0.0.1:${proxy.port}` });
      const b = await startNode();
      const pub = await publish(a.url, "contested");
      peers.push(pub);
      proxy.block();
      // A's record and claim expire; the publisher (reconnecting, say) gets the room on B.
      await waitFor(async () => (await b.server.cluster.node(a.id)) === undefined, 10_000, "A gone from the directory");
      const again = await publish(b.url, "contested");
      peers.push(again);
      expect(a.server.registry.get("contested")).toBeDefined();
      let closedAt: number | undefined;
      pub.pc.connectionStateChange.subscribe((st) => {
        if (st === "closed" || st === "failed") closedAt ??= Date.now();
      });
      for (const t of pub.pc.dtlsTransports) t.onStateChange.subscribe((st) => st === "closed" && (closedAt ??= Date.now()));
      proxy.unblock();
      await waitFor(() => a.server.registry.get("contested") === undefined, 10_000, "A closing the room it lost");
      await waitFor(() => closedAt !== undefined, 5000, "A's publisher told");
      expect(b.server.cluster.isOrigin("contested")).toBe(true);
      expect(a.server.cluster.isOrigin("contested")).toBe(false);
    } finally {
      await Promise.all(nodes.splice(0).map((n) => n.server.close("test done")));
      await proxy.close();
    }
  });
});
