// AUTH_HOOK_URL against the real binary: an auth service in the test allows room "allowed" to the token "good" and
// denies room "denied"; werift peers publish and play through it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { json, startHttpReceiver, type HttpReceiver } from "./helpers/httpReceiver.ts";
import { startServer, type ServerHandle } from "./helpers/server.ts";
import { play, postSdp, publish, publisherOffer, viewerOffer } from "./helpers/weriftPeers.ts";

interface HookCall {
  room: string;
  action: string;
  token: string | null;
  ip: string | null;
}

describe("the auth hook, against the binary", () => {
  let server: ServerHandle;
  let hook: HttpReceiver;
  const calls = () => hook.requests.map((r) => JSON.parse(r.body) as HookCall);

  beforeAll(async () => {
    hook = await startHttpReceiver((req) => {
      const call = JSON.parse(req.body) as HookCall;
      if (call.token !== "good") return json(401, { error: "unknown token" });
      if (call.room === "allowed") return { status: 204 };
      return json(403, { error: "not your room" });
    });
    server = await startServer({ AUTH_HOOK_URL: `${hook.url}/roomcast-auth`, ADMIN_TOKEN: "admin" });
  });

  afterAll(async () => {
    await server?.stop();
    await hook?.close();
  });

  it("allows one room: a werift publisher and viewer connect and media flows", async () => {
    const pub = await publish(server.url, "allowed", { token: "good" });
    const viewer = await play(server.url, "allowed", { token: "good" });
    await pub.sendVideo(30, 5);
    await expect.poll(() => viewer.videoIndexes.length, { timeout: 5000 }).toBeGreaterThan(0);
    const detail = await fetch(`${server.url}/api/rooms/allowed`, { headers: { Authorization: "Bearer good" } });
    expect(detail.status).toBe(200);
    await viewer.close();
    await pub.close();
    expect(calls().slice(0, 2)).toEqual([
      { room: "allowed", action: "publish", token: "good", ip: "127.0.0.1" },
      { room: "allowed", action: "play", token: "good", ip: "127.0.0.1" },
    ]);
  });

  it("denies another room with the hook's status, and a request without a token with 401", async () => {
    const denied = await postSdp(`${server.url}/api/whip/publish/denied`, await publisherOffer(), "good");
    expect(denied.status).toBe(403);
    expect(JSON.parse(denied.body)).toEqual({ error: "forbidden: not your room" });
    const deniedPlay = await postSdp(`${server.url}/api/whep/play/denied`, await viewerOffer(), "good");
    expect(deniedPlay.status).toBe(403);
    const anonymous = await postSdp(`${server.url}/api/whip/publish/allowed`, await publisherOffer());
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.body)).toEqual({ error: "unauthorized" });
    expect(calls().some((c) => c.room === "allowed" && c.token === null)).toBe(true);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/roomcast_auth_hook_requests_total\{result="deny"\} [1-9]/);
    expect(metrics).toMatch(/roomcast_auth_failures_total\{status="403"\} 2/);
  });

  it("the answers are cached: asking again about the same room, action and token costs no call", async () => {
    const before = hook.requests.length;
    for (let i = 0; i < 3; i++) expect((await fetch(`${server.url}/api/rooms/allowed`, { headers: { Authorization: "Bearer good" } })).status).toBe(404);
    expect(hook.requests.length).toBe(before);
  });

  it("ADMIN_TOKEN opens rooms without asking the hook", async () => {
    const before = hook.requests.length;
    const res = await postSdp(`${server.url}/api/whip/publish/denied`, await publisherOffer(), "admin");
    expect(res.status).toBe(201);
    await fetch(new URL(res.location as string, server.url), { method: "DELETE", headers: { Authorization: "Bearer admin" } });
    expect(hook.requests.length).toBe(before);
  });

  it("a hook that is down refuses with 503", async () => {
    await hook.close();
    const res = await postSdp(`${server.url}/api/whip/publish/allowed`, await publisherOffer(), "new-token");
    expect(res.status).toBe(503);
    expect(JSON.parse(res.body)).toEqual({ error: "the auth service is unavailable, try again shortly" });
  });
});
