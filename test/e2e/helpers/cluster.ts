// What the cluster tests share: free ports for nodes that need fixed ones, the nodes a server's logs announce,
// requests on fresh connections (so the kernel spreads them over the nodes of a shared port), and whether the relay
// (an edge pulling a room from its origin) is in this tree.
import { existsSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";
import { createSocket } from "node:dgram";
import { join } from "node:path";
import { ROOT, waitFor, type ServerHandle } from "./server.ts";

/**
 * The relay is built apart (src/rtc/whepClient.ts, src/room/relay.ts); until it is merged, a viewer of a room whose
 * origin is another node is refused as any viewer of a room without a publisher. Tests of viewers on edges run once
 * it is here; the tests of the refusal run until then.
 */
export const RELAY = existsSync(join(ROOT, "src/rtc/whepClient.ts"));

function tcpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createSocket("udp4");
    sock.once("error", () => resolve(false));
    sock.bind(port, "0.0.0.0", () => sock.close(() => resolve(true)));
  });
}

/** A run of `count` consecutive free TCP ports on loopback (a shared PORT and the workers' PORT+1+i). */
export async function freeTcpRun(count: number): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await tcpFree(p);
    if (ok) return base;
  }
  throw new Error(`no run of ${count} free TCP ports`);
}

/** A range of `count` free UDP ports (RTC_PORT_MIN..MAX). */
export async function freeUdpRange(count: number): Promise<[number, number]> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 40_000 + Math.floor(Math.random() * 20_000);
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await udpFree(p);
    if (ok) return [base, base + count - 1];
  }
  throw new Error(`no range of ${count} free UDP ports`);
}

export interface NodeSeen {
  id: string;
  url: string;
}

/** The nodes that joined, as their "joined the cluster" log lines say, in order. */
export function joinedNodes(server: ServerHandle): NodeSeen[] {
  const out: NodeSeen[] = [];
  for (const line of server.lines) {
    if (!line.includes("joined the cluster as node")) continue;
    const l = JSON.parse(line) as { node: string; url: string };
    out.push({ id: l.node, url: l.url });
  }
  return out;
}

/** Waits until `count` more nodes than `after` have joined; returns the newest ones. */
export async function waitJoined(server: ServerHandle, count: number, after = 0, timeoutMs = 20_000): Promise<NodeSeen[]> {
  return waitFor(() => {
    const joined = joinedNodes(server);
    return joined.length >= after + count ? joined.slice(after) : undefined;
  }, timeoutMs, `${count} node(s) joining`);
}

/** The supervisor's pid of each node id (its "node ready" lines). */
export function nodePids(server: ServerHandle): Map<string, number> {
  const pids = new Map<string, number>();
  for (const line of server.lines) {
    if (!line.includes('"msg":"node ready"')) continue;
    const l = JSON.parse(line) as { node: string; pid: number };
    pids.set(l.node, l.pid);
  }
  return pids;
}

/** One GET on a connection of its own (no keep-alive): which node answered, by X-Roomcast-Node. */
export function getFresh(url: string): Promise<{ status: number; node: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: { Connection: "close" } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, node: res.headers["x-roomcast-node"] as string | undefined, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** GET /api/rooms of a node, as JSON text, for comparing what nodes show. */
export async function roomsText(url: string, token?: string): Promise<string> {
  const res = await fetch(`${url}/api/rooms`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (res.status !== 200) throw new Error(`GET ${url}/api/rooms: ${res.status}`);
  return JSON.stringify(await res.json());
}
