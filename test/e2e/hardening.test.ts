// Issue 14's attacks on offers and fragments, run against the server as it ships, next to a live room: each gets its
// 400 in JSON naming the problem, /healthz answers within 100 ms throughout (measured from a process of its own,
// counting what the server's own CPU accounts for),
// and the live publisher and viewer carry on. Then a stalled event loop (the server stopped with SIGSTOP while its
// publisher keeps sending) must not be taken for the publisher's silence.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  badFingerprint,
  duplicateMids,
  FINGERPRINT,
  garbage,
  hostileSection,
  hugeUfrag,
  manySsrc,
  nulInMid,
  offerOf,
  unbundledSections,
} from "../fixtures/hostileSdp.ts";
import { startHealthProbe } from "./helpers/healthProbe.ts";
import { sleep, startServer, waitFor, waitRoomConnected, type ServerHandle } from "./helpers/server.ts";
import { play, publish, type WeriftPublisher, type WeriftViewer } from "./helpers/weriftPeers.ts";

const FRAG = "application/trickle-ice-sdpfrag";

/** Sends video every 20 ms until stopped, as a live publisher does. */
function keepSending(pub: WeriftPublisher): () => void {
  let on = true;
  void (async () => {
    while (on) await pub.sendVideo(1, 20);
  })();
  return () => {
    on = false;
  };
}

describe("hostile offers and fragments against the binary, next to a live room", () => {
  let server: ServerHandle;
  let pub: WeriftPublisher;
  let viewer: WeriftViewer;
  let stopSending: () => void;

  beforeAll(async () => {
    server = await startServer();
    pub = await publish(server.url, "live");
    stopSending = keepSending(pub);
    viewer = await play(server.url, "live");
    await waitRoomConnected(server.url, "live", 1);
  });
  afterAll(async () => {
    stopSending?.();
    await viewer?.close();
    await pub?.close();
    await server?.stop();
  });

  const post = (path: string, body: string) =>
    fetch(`${server.url}${path}`, { method: "POST", body, headers: { "Content-Type": "application/sdp" } });

  // Built before the probe starts: the test's own work stays out of the measurement.
  const attacks: [string, string, string | RegExp][] = [
    ["1,000 sections without BUNDLE (held the loop 80 s)", unbundledSections(1000), "offer is larger than 32 KB"],
    ["17 small sections", unbundledSections(17), "more than 16 media sections"],
    ["20,000 a=ssrc lines (6.5 s of work)", manySsrc(20_000), "offer is larger than 32 KB"],
    ["600 a=ssrc lines, under the size cap", manySsrc(600), "more than 64 a=ssrc at section 0"],
    ["1 MB of garbage after v=0", garbage(), "offer is larger than 32 KB"],
    ["fingerprint hash foo-999", badFingerprint("foo-999 AB:CD"), /^unsupported fingerprint hash "foo-999"/],
    ["fingerprint hash md5", badFingerprint("md5 D4:1D:8C:D9:8F:00:B2:04:E9:80:09:98:EC:F8:42:7E"), /^unsupported fingerprint hash "md5"/],
    ["sha-256 digest of 20 bytes", badFingerprint(`sha-256 ${FINGERPRINT.slice(8, 8 + 59)}`), "sha-256 fingerprint must be 32 bytes (has 20)"],
    ["two sections with mid v", duplicateMids(), 'two media sections have mid "v"'],
    ["ice-ufrag of 400 KB", hugeUfrag(400_000), "offer is larger than 32 KB"],
    ["ice-ufrag of 300 characters", hugeUfrag(300), "ice-ufrag must be 4-256 characters (has 300)"],
    ["a NUL byte in a mid", nulInMid(), /^control character in line \d+$/],
    ["a candidate 999.1.1.1 port 99999999", offerOf([hostileSection(0, { extra: ["a=candidate:1 1 udp 2122260223 999.1.1.1 99999999 typ host"] })]), /^invalid candidate address/],
  ];

  it("every attack gets 400 {error: invalid SDP: ...} with X-Error-Detail, on WHIP and WHEP; /healthz stays under 100 ms", async () => {
    const probe = await startHealthProbe(server.url, server.proc.pid ?? 0);
    const liveBefore = viewer.videoIndexes.length;
    try {
      // Three rounds, so the probe sees the server throughout (one round takes a few hundred ms).
      for (let round = 0; round < 3; round++) {
        for (const [name, body, detail] of attacks) {
          for (const path of ["/api/whip/publish/attack", "/api/whep/play/live"]) {
            const res = await post(path, body);
            expect(res.status, `${name} on ${path}`).toBe(400);
            expect(res.headers.get("content-type")).toMatch(/^application\/json/);
            const error = ((await res.json()) as { error: string }).error;
            expect(error, name).toMatch(/^invalid SDP: /);
            const header = res.headers.get("x-error-detail") ?? "";
            if (typeof detail === "string") expect(header, name).toBe(detail);
            else expect(header, name).toMatch(detail);
            expect(error).toBe(`invalid SDP: ${header}`);
          }
        }
      }
    } finally {
      const health = await probe.stop();
      expect(health.failures).toBe(0);
      expect(health.count).toBeGreaterThan(5);
      // The server's own share of its slowest answer (see healthProbe.ts: a machine busy with other test runs can
      // delay any answer; a server holding its event loop is computing meanwhile).
      expect(health.ownMax, `slowest /healthz of ${health.count}: ${health.max.toFixed(1)} ms, the server's own ${health.ownMax.toFixed(1)} ms`).toBeLessThan(100);
    }
    // No room was opened for the attacker, and the live one carries on.
    expect((await fetch(`${server.url}/api/rooms/attack`)).status).toBe(404);
    await waitFor(() => viewer.videoIndexes.length > liveBefore + 10, 5000, "the viewer still receiving");
  });

  it("PATCH: an ICE restart with ice-ufrag:n / ice-pwd:p, and a trickled 999.1.1.1:99999999, get 400 in JSON", async () => {
    const patch = (body: string, headers: Record<string, string> = {}) =>
      fetch(pub.location, { method: "PATCH", body, headers: { "Content-Type": FRAG, ...headers } });
    const restart = await patch("a=ice-ufrag:n\r\na=ice-pwd:p\r\n", { "If-Match": "*" });
    expect(restart.status).toBe(400);
    expect(await restart.json()).toEqual({ error: "invalid sdpfrag: ice-ufrag must be 4-256 characters (has 1)" });
    const trickle = await patch("a=mid:0\r\na=candidate:1 1 udp 2122260223 999.1.1.1 99999999 typ host\r\n");
    expect(trickle.status).toBe(400);
    expect(((await trickle.json()) as { error: string }).error).toMatch(/^invalid sdpfrag: invalid candidate address/);
    const many = await patch(
      ["a=mid:0", ...Array.from({ length: 65 }, (_, i) => `a=candidate:${i} 1 udp 2122260223 10.0.0.1 ${1000 + i} typ host`), ""].join("\r\n"),
    );
    expect(many.status).toBe(400);
    expect(await many.json()).toEqual({ error: "invalid sdpfrag: more than 64 candidates" });
    // The session is untouched: same ICE, media still flowing.
    const before = viewer.videoIndexes.length;
    await waitFor(() => viewer.videoIndexes.length > before + 10, 5000, "the viewer still receiving");
  });
});

describe("a stalled event loop is not a publisher's silence", () => {
  let server: ServerHandle;

  beforeAll(async () => {
    // CONNECT_TIMEOUT=5: the idle reaper closes a publisher after 5 s without media.
    server = await startServer({ CONNECT_TIMEOUT: "5" });
  });
  afterAll(async () => {
    if (server?.proc.signalCode === null) server.proc.kill("SIGCONT");
    await server?.stop();
  });

  it("stopped for 8 s (SIGSTOP) while its publisher keeps sending, the server keeps the publisher; real silence is still reaped", async () => {
    const pub = await publish(server.url, "stall");
    const stop = keepSending(pub);
    try {
      await waitRoomConnected(server.url, "stall", 0);
      await sleep(1500);
      server.proc.kill("SIGSTOP");
      await sleep(8000);
      server.proc.kill("SIGCONT");
      // Three more ticks after waking: the reaper has had every chance to act.
      await sleep(3500);
      expect(server.lines.filter((l) => l.includes("no media for"))).toEqual([]);
      const room = (await (await fetch(`${server.url}/api/rooms/stall`)).json()) as { publisher: { state: string } | null };
      expect(room.publisher?.state).toBe("connected");
    } finally {
      stop();
    }
    // The publisher goes quiet for real: reaped after 5 s of responsive ticks.
    await server.waitForLog(/no media for 5 s/, 15_000).catch((err: unknown) => {
      console.log(server.lines.slice(-30).join("\n"));
      throw err;
    });
    await pub.drop();
  });
});
