// The auth matrix, rate limit and metrics against the real server process, probed over HTTP as an operator would.
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, waitFor, waitRoomConnected, type ServerHandle } from "./helpers/server.ts";
import { play, postSdp, publish, publisherOffer, viewerOffer } from "./helpers/weriftPeers.ts";

const SECRET = "jwt-secret-for-tests-0123456789";
const ENV = {
  AUTH_TOKEN: "global-token",
  ROOM_TOKENS: "alpha:alpha-token,beta:beta-token",
  JWT_SECRET: SECRET,
  ADMIN_TOKEN: "admin-token",
};

async function jwt(claims: Record<string, unknown>, opts: { exp?: string | number | null; secret?: string } = {}): Promise<string> {
  const t = new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setIssuedAt();
  if (opts.exp !== null) t.setExpirationTime(opts.exp ?? "5m");
  return t.sign(new TextEncoder().encode(opts.secret ?? SECRET));
}

describe("auth matrix", () => {
  let server: ServerHandle;
  let pubOffer: string;
  let playOffer: string;
  beforeAll(async () => {
    server = await startServer(ENV);
    [pubOffer, playOffer] = await Promise.all([publisherOffer(), viewerOffer()]);
  });
  afterAll(async () => {
    await server?.stop();
  });

  const whip = (room: string, headers: Record<string, string>) =>
    fetch(`${server.url}/api/whip/publish/${room}`, {
      method: "POST",
      body: pubOffer,
      headers: { "Content-Type": "application/sdp", ...headers },
    });

  it("bootstrap says auth is on and stays public; healthz and metrics stay public", async () => {
    const b = (await (await fetch(`${server.url}/api/bootstrap`)).json()) as { authEnabled: boolean };
    expect(b.authEnabled).toBe(true);
    expect(await (await fetch(`${server.url}/healthz`)).text()).toBe("ok");
    expect((await fetch(`${server.url}/metrics`)).status).toBe(200);
  });

  it.each([
    ["no token", {}, 401],
    ["wrong bearer", { Authorization: "Bearer nope" }, 401],
    ["malformed Authorization", { Authorization: "Basic abc" }, 401],
    ["another room's token", { Authorization: "Bearer beta-token" }, 401],
  ])("refuses %s with 401 JSON after a fixed delay", async (_name, headers, status) => {
    const t0 = Date.now();
    const res = await whip("alpha", headers);
    expect(res.status).toBe(status);
    expect(await res.json()).toEqual({ error: "unauthorized" });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
  });

  it("JWT: expired, forged, without exp → 401; other room or missing grant → 403", async () => {
    const cases: [string, Promise<string>, number][] = [
      ["expired", jwt({ room: "alpha" }, { exp: Math.floor(Date.now() / 1000) - 60 }), 401],
      ["forged", jwt({ room: "alpha" }, { secret: "not-the-secret-at-all-0000000000" }), 401],
      ["no exp", jwt({ room: "alpha" }, { exp: null }), 401],
      ["other room", jwt({ room: "beta" }), 403],
      ["play only", jwt({ room: "alpha", can: ["play"] }), 403],
    ];
    for (const [name, token, status] of cases) {
      const res = await whip("alpha", { Authorization: `Bearer ${await token}` });
      expect(res.status, name).toBe(status);
      const body = (await res.json()) as { error: string };
      expect(body.error, name).toMatch(status === 401 ? /^unauthorized$/ : /^forbidden: /);
    }
  });

  it("room token, AUTH_TOKEN (Bearer or X-Auth-Token), JWT and ADMIN_TOKEN each publish", async () => {
    const accepted: [string, Record<string, string>][] = [
      ["alpha", { Authorization: "Bearer alpha-token" }],
      ["r-global", { Authorization: "Bearer global-token" }],
      ["r-xauth", { "X-Auth-Token": "global-token" }],
      ["r-jwt", { Authorization: `Bearer ${await jwt({ room: "r-jwt", can: ["publish"] })}` }],
      ["r-star", { Authorization: `Bearer ${await jwt({ room: "*" })}` }],
      ["r-admin", { Authorization: "Bearer admin-token" }],
    ];
    for (const [room, headers] of accepted) {
      const res = await whip(room, headers);
      expect(res.status, room).toBe(201);
      const location = res.headers.get("location")!;
      // DELETE needs the same right as the POST.
      expect((await fetch(new URL(location, server.url), { method: "DELETE" })).status, room).toBe(401);
      expect((await fetch(new URL(location, server.url), { method: "DELETE", headers })).status, room).toBe(200);
    }
  });

  it("WHEP checks the play grant; a JWT for publish only cannot play", async () => {
    const pub = await publish(server.url, "gamma", { token: "global-token" });
    const publishOnly = await jwt({ room: "gamma", can: ["publish"] });
    const refused = await postSdp(`${server.url}/api/whep/play/gamma`, playOffer, publishOnly);
    expect(refused.status).toBe(403);
    const viewer = await play(server.url, "gamma", { token: await jwt({ room: "gamma", can: ["play"] }) });
    await Promise.all([viewer.close(), pub.close()]);
  });

  it("room listing shows each token its rooms; admin close needs ADMIN_TOKEN", async () => {
    const pub = await publish(server.url, "alpha", { token: "alpha-token" });
    const pub2 = await publish(server.url, "beta", { token: "beta-token" });
    const list = async (token?: string) => {
      const res = await fetch(`${server.url}/api/rooms`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
      return { status: res.status, body: (await res.json()) as { name: string }[] };
    };
    expect((await list()).status).toBe(401);
    expect((await list("alpha-token")).body.map((r) => r.name)).toEqual(["alpha"]);
    expect((await list("global-token")).body.map((r) => r.name)).toEqual(["alpha", "beta"]);

    const close = (token?: string, room = "alpha") =>
      fetch(`${server.url}/api/admin/rooms/${room}/close`, {
        method: "POST",
        headers: token ? { Authorization: `Bearer ${token}` } : {},
      });
    expect((await close()).status).toBe(401);
    expect((await close("global-token")).status).toBe(401);
    expect((await close("alpha-token")).status).toBe(401);
    const ok = await close("admin-token");
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ closed: "alpha" });
    expect((await close("admin-token")).status).toBe(404);
    expect((await list("global-token")).body.map((r) => r.name)).toEqual(["beta"]);
    await Promise.all([pub.close(), pub2.close()]);
  });
});

describe("bad input", () => {
  let server: ServerHandle;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  const post = (path: string, body: string | Uint8Array, type = "application/sdp") =>
    fetch(`${server.url}${path}`, { method: "POST", body: body as BodyInit, headers: { "Content-Type": type } });

  it.each([
    ["garbage", "hello"],
    ["empty", ""],
    ["no media", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"],
    ["binary", new Uint8Array([0xff, 0xfe, 0x00, 0x01])],
  ])("%s SDP → 400 invalid SDP, server stays up", async (_name, body) => {
    for (const path of ["/api/whip/publish/bad", "/api/whep/play/bad"]) {
      const res = await post(path, body);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ error: "invalid SDP" });
    }
    expect(await (await fetch(`${server.url}/healthz`)).text()).toBe("ok");
  });

  it("offer without ICE credentials or fingerprint → 400", async () => {
    const offer = await publisherOffer();
    for (const strip of [/a=ice-ufrag:.*\r\n/g, /a=ice-pwd:.*\r\n/g, /a=fingerprint:.*\r\n/g]) {
      const res = await post("/api/whip/publish/strip", offer.replace(strip, ""));
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ error: "invalid SDP" });
    }
  });

  it("a recvonly offer sent to WHIP, a sendonly offer sent to WHEP → 400 saying why", async () => {
    const res = await post("/api/whip/publish/dir", await viewerOffer());
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/nothing|no audio or video to publish/);
  });

  it("bad room names → 400 invalid room name", async () => {
    for (const room of ["a".repeat(65), "a%20b", "a%2Fb", "x.y", "%C3%A9t%C3%A9"]) {
      const res = await post(`/api/whip/publish/${room}`, await publisherOffer());
      expect(res.status, room).toBe(400);
      expect(await res.json()).toEqual({ error: "invalid room name" });
    }
  });

  it("an SDP body over 1 MB → 413, with or without Content-Length", async () => {
    const big = "v=0\r\n" + "a=x\r\n".repeat(220_000);
    const res = await post("/api/whip/publish/big", big);
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: "request body too large" });
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 12; i++) c.enqueue(new Uint8Array(100_000).fill(97));
        c.close();
      },
    });
    const chunked = await fetch(`${server.url}/api/whip/publish/big`, {
      method: "POST",
      body: stream,
      headers: { "Content-Type": "application/sdp" },
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(413);
  });

  it("JSON body → 415; unknown path → 404 JSON; CORS on every answer and on preflight", async () => {
    const res = await post("/api/whip/publish/j", "{}", "application/json");
    expect(res.status).toBe(415);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    const nf = await fetch(`${server.url}/api/nope`);
    expect(nf.status).toBe(404);
    expect(await nf.json()).toEqual({ error: "not found" });
    const pre = await fetch(`${server.url}/api/whip/publish/x`, {
      method: "OPTIONS",
      headers: { Origin: "https://obs.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type" },
    });
    expect(pre.status).toBeLessThan(300);
    expect(pre.headers.get("access-control-allow-origin")).toBe("*");
    expect(pre.headers.get("access-control-allow-methods")).toMatch(/POST/);
    expect(pre.headers.get("access-control-allow-headers")?.toLowerCase()).toMatch(/authorization/);
    const pub = await publish(server.url, "cors");
    const created = await postSdp(`${server.url}/api/whep/play/cors`, await viewerOffer());
    expect(created.status).toBe(201);
    expect(created.headers.get("access-control-expose-headers")).toMatch(/Location/);
    await fetch(new URL(created.location!, server.url), { method: "DELETE" });
    await pub.close();
  });
});

describe("limits and metrics", () => {
  it("rate limit per IP → 429 with Retry-After; admin too", async () => {
    const server = await startServer({ RATE_LIMIT_RPS: "2", RATE_LIMIT_BURST: "2", ADMIN_TOKEN: "adm" });
    try {
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      for (let i = 0; i < 8; i++) {
        const res = await fetch(`${server.url}/api/whip/publish/rl`, { method: "POST", body: "x", headers: { "Content-Type": "application/sdp" } });
        statuses.push(res.status);
        if (res.status === 429) {
          retryAfter = res.headers.get("retry-after");
          expect(await res.json()).toEqual({ error: "too many requests" });
        }
      }
      // Auth is on (ADMIN_TOKEN), so the requests the limiter lets through are refused by auth, after it.
      expect(statuses.filter((s) => s === 401).length).toBeGreaterThanOrEqual(2);
      expect(statuses).toContain(429);
      expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
      // Public endpoints are not limited.
      for (let i = 0; i < 10; i++) expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toMatch(/roomcast_rate_limited_total [1-9]/);
    } finally {
      await server.stop();
    }
  });

  it("admission control: at its CPU limit the server refuses new viewers with 503 + Retry-After, publishers still in", async () => {
    // A limit any running process exceeds, so the refusal can be seen without loading the machine.
    const server = await startServer({ ADMISSION_MAX_CPU: "0.0001" });
    try {
      const pub = await publish(server.url, "full");
      await waitFor(async () => /^roomcast_process_cpu_ratio [0-9.e-]+$/m.test(await (await fetch(`${server.url}/metrics`)).text()), 5000, "load sampled");
      let res = await postSdp(`${server.url}/api/whep/play/full`, await viewerOffer());
      await waitFor(async () => {
        res = await postSdp(`${server.url}/api/whep/play/full`, await viewerOffer());
        return res.status === 503;
      }, 6000, "503 at capacity");
      expect(JSON.parse(res.body)).toEqual({ error: "server is at capacity, try again shortly" });
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(await (await fetch(`${server.url}/metrics`)).text()).toMatch(/^roomcast_admission_rejected_total [1-9]/m);
      await pub.close();
    } finally {
      await server.stop();
    }
  });

  it("metrics after traffic have the reference's names and labels, and forget closed rooms", async () => {
    const server = await startServer();
    try {
      const pub = await publish(server.url, "metered");
      const v = await play(server.url, "metered");
      await waitRoomConnected(server.url, "metered", 1);
      await pub.sendVideo(50, 2);
      await waitFor(() => v.videoIndexes.length >= 50, 5000, "packets");
      const text = await (await fetch(`${server.url}/metrics`)).text();
      expect(text).toMatch(/^live_rooms 1$/m);
      expect(text).toMatch(/^live_subscribers\{room="metered"\} 1$/m);
      const packets = Number(/^live_rtp_packets_total\{room="metered"\} (\d+)$/m.exec(text)?.[1]);
      expect(packets).toBeGreaterThanOrEqual(50);
      const bytes = Number(/^live_rtp_bytes_total\{room="metered"\} (\d+)$/m.exec(text)?.[1]);
      expect(bytes).toBeGreaterThan(50 * 300);
      expect(text).toMatch(/^roomcast_sessions\{kind="viewer"\} 1$/m);
      expect(text).toMatch(/^roomcast_pli_total\{result="sent"\} [1-9]/m);
      expect(text).toMatch(/^roomcast_rtp_packets_forwarded_total \d+/m);
      expect(text).toMatch(/^process_resident_memory_bytes \d+/m);

      const details = (await (await fetch(`${server.url}/api/rooms/metered`)).json()) as {
        tracks: { kind: string; codec: string; packets: number }[];
        viewers: { packetsSent: number; codecs: string[] }[];
      };
      expect(details.tracks.map((t) => [t.kind, t.codec])).toEqual([
        ["video", "video/VP8"],
        ["audio", "audio/opus"],
      ]);
      expect(details.viewers[0]!.packetsSent).toBeGreaterThanOrEqual(50);

      await fetch(pub.location, { method: "DELETE" });
      await waitFor(async () => /^live_rooms 0$/m.test(await (await fetch(`${server.url}/metrics`)).text()), 3000, "room gone");
      const after = await (await fetch(`${server.url}/metrics`)).text();
      expect(after).not.toMatch(/room="metered"/);
      await Promise.all([pub.close(), v.close()]);
    } finally {
      await server.stop();
    }
  });
});
