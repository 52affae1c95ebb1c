// RFC 9725 / WHEP rules with real werift peers: OPTIONS, 201 headers, trickle PATCH, ICE restart with media
// before and after, ETag/If-Match, 405s, DELETE.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, waitFor, waitRoomConnected, type ServerHandle } from "./helpers/server.ts";
import { play, publish, publisherOffer } from "./helpers/weriftPeers.ts";

let server: ServerHandle;
beforeAll(async () => {
  server = await startServer({ ICE_SERVERS: "stun:stun.example.org:3478,turn:alice:s3cret@turn.example.org:3478?transport=udp" });
});
afterAll(async () => {
  await server?.stop();
});

const FRAG = "application/trickle-ice-sdpfrag";

function patch(url: string, body: string, headers: Record<string, string> = {}) {
  return fetch(url, { method: "PATCH", body, headers: { "Content-Type": FRAG, ...headers } });
}

describe("WHIP/WHEP protocol", () => {
  it("OPTIONS advertises Accept-Post, CORS and the ICE servers", async () => {
    for (const path of ["/api/whip/publish/p1", "/api/whep/play/p1"]) {
      const res = await fetch(`${server.url}${path}`, { method: "OPTIONS" });
      expect(res.status).toBeLessThan(300);
      expect(res.headers.get("accept-post")).toBe("application/sdp");
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
      const link = res.headers.get("link") ?? "";
      expect(link).toContain('<stun:stun.example.org:3478>; rel="ice-server"');
      expect(link).toContain('<turn:turn.example.org:3478?transport=udp>; rel="ice-server"; username="alice"; credential="s3cret"');
    }
  });

  it("GET, HEAD, PUT on the POST endpoints and GET on a session → 405 with Allow", async () => {
    for (const method of ["GET", "HEAD", "PUT"]) {
      for (const path of ["/api/whip/publish/p1", "/api/whep/play/p1"]) {
        const res = await fetch(`${server.url}${path}`, { method });
        expect(res.status, `${method} ${path}`).toBe(405);
        expect(res.headers.get("allow")).toBe("POST, OPTIONS");
      }
    }
  });

  it("201 carries Location, ETag, Accept-Patch and ice-server Links; sessions get distinct Locations", async () => {
    const offer = await publisherOffer();
    const a = await fetch(`${server.url}/api/whip/publish/hdr-a`, { method: "POST", body: offer, headers: { "Content-Type": "application/sdp" } });
    const b = await fetch(`${server.url}/api/whip/publish/hdr-b`, { method: "POST", body: offer, headers: { "Content-Type": "application/sdp" } });
    for (const res of [a, b]) {
      expect(res.status).toBe(201);
      expect(res.headers.get("content-type")).toBe("application/sdp");
      expect(res.headers.get("etag")).toMatch(/^"[A-Za-z0-9_-]+"$/);
      expect(res.headers.get("accept-patch")).toBe(FRAG);
      expect(res.headers.get("link")).toContain('rel="ice-server"');
      expect(await res.text()).toMatch(/^v=0/);
    }
    expect(a.headers.get("location")).not.toBe(b.headers.get("location"));
    for (const res of [a, b]) {
      const url = new URL(res.headers.get("location")!, server.url).toString();
      const get = await fetch(url);
      expect(get.status).toBe(405);
      expect(get.headers.get("allow")).toBe("PATCH, DELETE, OPTIONS");
      expect((await fetch(url, { method: "DELETE" })).status).toBe(200);
      expect((await fetch(url, { method: "DELETE" })).status).toBe(404);
    }
  });

  it("PATCH: trickle 204, wrong If-Match 412, malformed 400, wrong type 415, restart without If-Match 422", async () => {
    const pub = await publish(server.url, "trickle");
    const etag = (await fetch(`${server.url}/api/rooms/trickle`)).ok;
    expect(etag).toBe(true);
    const ufrag = /a=ice-ufrag:(\S+)/.exec(pub.pc.localDescription!.sdp)![1]!;
    const cand = "a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n";
    const ok = await patch(pub.location, `a=ice-ufrag:${ufrag}\r\na=ice-pwd:${"x".repeat(24)}\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n${cand}a=end-of-candidates\r\n`);
    expect(ok.status).toBe(204);
    const plain = await patch(pub.location, `m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n${cand}`);
    expect(plain.status).toBe(204);
    const stale = await patch(pub.location, cand, { "If-Match": '"not-the-etag"' });
    expect(stale.status).toBe(412);
    const bad = await patch(pub.location, "a=candidate:garbage\r\n");
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/invalid sdpfrag/);
    const wrongType = await fetch(pub.location, { method: "PATCH", body: cand, headers: { "Content-Type": "application/sdp" } });
    expect(wrongType.status).toBe(415);
    const noMatch = await patch(pub.location, "a=ice-ufrag:newufrag\r\na=ice-pwd:newpassword0123456789abcd\r\n");
    expect(noMatch.status).toBe(422);
    await pub.close();
    const gone = await patch(pub.location, cand);
    expect(gone.status).toBe(404);
  });

  it("ICE restart: 200 with an sdpfrag answer and a new ETag, media flowing before and after", async () => {
    const pub = await publish(server.url, "restart");
    const viewer = await play(server.url, "restart");
    await waitRoomConnected(server.url, "restart", 1);
    await pub.sendVideo(50, 2);
    await waitFor(() => viewer.videoIndexes.length >= 50, 5000, "media before restart");

    // The viewer restarts ICE the WHEP way: new credentials in a PATCH with If-Match: "*".
    const first = await fetch(viewer.location, { method: "PATCH", body: "", headers: { "Content-Type": FRAG } });
    expect(first.status).toBe(204);
    const pc = viewer.pc;
    pc.restartIce();
    const offer = await pc.createOffer({ iceRestart: true });
    await pc.setLocalDescription(offer);
    await new Promise((r) => setTimeout(r, 300));
    const local = pc.localDescription!.sdp;
    const ufrag = /a=ice-ufrag:(\S+)/.exec(local)![1]!;
    const pwd = /a=ice-pwd:(\S+)/.exec(local)![1]!;
    const candidates = local.split("\r\n").filter((l) => l.startsWith("a=candidate:"));
    const frag = [`a=ice-ufrag:${ufrag}`, `a=ice-pwd:${pwd}`, "m=video 9 UDP/TLS/RTP/SAVPF 96", "a=mid:0", ...candidates, ""].join("\r\n");
    const res = await patch(viewer.location, frag, { "If-Match": "*" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe(FRAG);
    const newEtag = res.headers.get("etag");
    expect(newEtag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const answerFrag = await res.text();
    const newUfrag = /a=ice-ufrag:(\S+)/.exec(answerFrag)?.[1];
    const newPwd = /a=ice-pwd:(\S+)/.exec(answerFrag)?.[1];
    expect(newUfrag).toBeDefined();
    expect(newUfrag).not.toBe(/a=ice-ufrag:(\S+)/.exec(viewer.answer)![1]);
    expect(answerFrag).toMatch(/a=candidate:/);
    const answerCandidates = answerFrag.split("\r\n").filter((l) => l.startsWith("a=candidate:"));
    const answer = viewer.answer
      .split("\r\n")
      .filter((l) => !l.startsWith("a=candidate:") && l !== "a=end-of-candidates")
      .map((l) => (l.startsWith("a=ice-ufrag:") ? `a=ice-ufrag:${newUfrag}` : l.startsWith("a=ice-pwd:") ? `a=ice-pwd:${newPwd}` : l))
      .flatMap((l) => (l.startsWith("a=mid:") ? [l, ...answerCandidates] : [l]))
      .join("\r\n");
    await pc.setRemoteDescription({ type: "answer", sdp: answer });
    // werift's connect() skips a transport whose DTLS is up, so its restarted ICE agent is started by hand.
    for (const t of pc.iceTransports) t.start().catch(() => undefined);

    // The old ETag no longer names the session.
    const stale = await patch(viewer.location, "", { "If-Match": '"stale"' });
    expect(stale.status).toBe(412);
    const fresh = await patch(viewer.location, "", { "If-Match": newEtag! });
    expect(fresh.status).toBe(204);

    const before = viewer.videoIndexes.length;
    await waitFor(
      async () => {
        await pub.sendVideo(10, 5);
        return viewer.videoIndexes.length >= before + 50;
      },
      15_000,
      "media after restart",
    );
    expect(viewer.corrupt).toBe(0);
    await Promise.all([viewer.close(), pub.close()]);
  });
});
