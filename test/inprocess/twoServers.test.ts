// Two Servers in one process (Node, through src/platform/node.ts), each with its own HTTP port and media socket:
// werift peers publish and play on each, media flows on each server's own UDP port, and both close cleanly,
// leaving no socket or server handle behind.
import "../../src/polyfills.ts";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { Server } from "../../src/server.ts";
import { play, publish, type WeriftPublisher, type WeriftViewer } from "../e2e/helpers/weriftPeers.ts";
import { waitFor } from "../e2e/helpers/server.ts";

const servers: Server[] = [];
const peers: (WeriftPublisher | WeriftViewer)[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()));
  await Promise.all(servers.splice(0).map((s) => s.close("test done")));
});

async function start(): Promise<{ server: Server; url: string }> {
  const config = loadConfig({ PORT: "0", HOST: "127.0.0.1", ANNOUNCED_IPS: "127.0.0.1", RATE_LIMIT_RPS: "0", ADMISSION_MAX_CPU: "0" });
  const server = await Server.start(config, { log: pino({ level: "silent" }) });
  servers.push(server);
  return { server, url: `http://127.0.0.1:${server.port}` };
}

/** The ports of the host candidates in an SDP. */
function candidatePorts(sdp: string): Set<number> {
  return new Set([...sdp.matchAll(/a=candidate:\S+ \d+ udp \d+ \S+ (\d+) typ host/gi)].map((m) => Number(m[1])));
}

/** Open handles of the kinds a server makes: its listening socket, its UDP socket, accepted connections. */
function handles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) if (/TCPServerWrap|UDPWrap|TCPSocketWrap/.test(kind)) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

describe("two servers in one process", () => {
  it("each forwards its own room on its own media port, and both close cleanly", async () => {
    const before = handles();
    const a = await start();
    const b = await start();
    expect(a.server.port).not.toBe(b.server.port);
    expect(a.server.mux.port).not.toBe(b.server.mux.port);

    const pubA = await publish(a.url, "same-name");
    const pubB = await publish(b.url, "same-name");
    peers.push(pubA, pubB);
    const viewA = await play(a.url, "same-name");
    const viewB = await play(b.url, "same-name");
    peers.push(viewA, viewB);
    // Each server's answers name its own media socket, and only it.
    expect(candidatePorts(pubA.answer)).toEqual(new Set([a.server.mux.port]));
    expect(candidatePorts(viewB.answer)).toEqual(new Set([b.server.mux.port]));

    await Promise.all([pubA.sendVideo(60, 10), pubB.sendVideo(60, 10)]);
    await waitFor(() => viewA.videoIndexes.length >= 40 && viewB.videoIndexes.length >= 40, 10_000, "both viewers receiving");
    expect(viewA.corrupt + viewB.corrupt).toBe(0);
    // Each room is its server's: one publisher and one viewer each, not two.
    for (const s of [a.server, b.server]) expect(s.registry.list()).toEqual([{ name: "same-name", hasPublisher: true, tracks: 2, subscribers: 1 }]);
    // Once connected, viewers are sent packets on the servers' own path (SRTP on the mux), not werift's.
    await waitFor(() => a.server.mux.sources > 0 && b.server.mux.sources > 0, 5000, "peers on both muxes");
    // The own path reports for itself: each server's scheduler has its viewer's streams, and only those.
    await waitFor(() => a.server.senderReports.size === 2 && b.server.senderReports.size === 2, 5000, "both viewers' streams on their server's own path");

    const reports = await Promise.all(servers.splice(0).map((s) => s.close("test done")));
    expect(reports).toEqual([
      { clean: true, cutShort: [] },
      { clean: true, cutShort: [] },
    ]);
    // A second close gets the same report, and does nothing more.
    expect(await a.server.close("again")).toEqual({ clean: true, cutShort: [] });
    await waitFor(() => viewA.closedAt !== undefined && viewB.closedAt !== undefined, 5000, "viewers told the servers left");
    await Promise.all(peers.splice(0).map((p) => p.close()));
    await waitFor(() => JSON.stringify(handles()) === JSON.stringify(before), 5000, `no handles left (${JSON.stringify(handles())} vs ${JSON.stringify(before)})`);
  }, 60_000);
});
