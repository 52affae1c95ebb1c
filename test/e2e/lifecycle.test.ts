// Session and room lifecycle against the real server process: every status code of the contract with real peers,
// publisher leaving, DELETE twice, a second publisher, vanished clients, SIGTERM.
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendCloseNotify } from "../../src/rtc/dtlsClose.ts";
import { sendRealMedia } from "./helpers/realMedia.ts";
import { ROOT, startServer, waitFor, waitRoomConnected, type ServerHandle } from "./helpers/server.ts";
import { play, postSdp, publish, publisherOffer, viewerOffer } from "./helpers/weriftPeers.ts";

interface RoomDetails {
  subscribers: number;
  viewers: { state: string }[];
  tracks: { kind: string; codec: string; packets: number }[];
}

async function rooms(server: ServerHandle): Promise<{ name: string; hasPublisher: boolean; tracks: number; subscribers: number }[]> {
  return (await (await fetch(`${server.url}/api/rooms`)).json()) as never;
}

describe("room lifecycle", () => {
  let server: ServerHandle;
  beforeAll(async () => {
    server = await startServer({ MAX_SUBS_PER_ROOM: "2", CONNECT_TIMEOUT: "4" });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("publish 201, second publisher 409, viewers 201 up to the limit then 403, DELETE 200 then 404", async () => {
    const pub = await publish(server.url, "life");
    expect(pub.location).toMatch(/\/api\/whip\/publish\/life\/[A-Za-z0-9_-]{32}$/);

    const second = await postSdp(`${server.url}/api/whip/publish/life`, await publisherOffer());
    expect(second.status).toBe(409);
    expect(JSON.parse(second.body)).toEqual({ error: "publisher already exists in this room" });

    const v1 = await play(server.url, "life");
    const v2 = await play(server.url, "life");
    expect(v1.location).not.toBe(v2.location);
    const third = await postSdp(`${server.url}/api/whep/play/life`, await viewerOffer());
    expect(third.status).toBe(403);
    expect(JSON.parse(third.body)).toEqual({ error: "subscriber limit reached" });

    expect(await rooms(server)).toEqual([{ name: "life", hasPublisher: true, tracks: 2, subscribers: 2 }]);

    const del = await fetch(v2.location, { method: "DELETE" });
    expect(del.status).toBe(200);
    const again = await fetch(v2.location, { method: "DELETE" });
    expect(again.status).toBe(404);
    expect(await again.json()).toEqual({ error: "session not found" });
    await waitFor(async () => (await rooms(server))[0]?.subscribers === 1, 3000, "viewer count 1");

    // A viewer's session URL is not a publisher's: DELETE through the other endpoint is 404.
    const wrongKind = await fetch(v1.location.replace("/api/whep/play/", "/api/whip/publish/"), { method: "DELETE" });
    expect(wrongKind.status).toBe(404);

    // The publisher leaves: its viewer is told within 2 s, the room goes, a new publish takes the room.
    const left = Date.now();
    expect((await fetch(pub.location, { method: "DELETE" })).status).toBe(200);
    await waitFor(() => v1.closedAt !== undefined, 2000, "viewer told the publisher left");
    expect(v1.closedAt! - left).toBeLessThan(2000);
    await waitFor(async () => (await rooms(server)).length === 0, 2000, "room gone");
    const noPub = await postSdp(`${server.url}/api/whep/play/life`, await viewerOffer());
    expect(noPub.status).toBe(404);
    expect(JSON.parse(noPub.body)).toEqual({ error: "no active publisher in room" });

    const pub2 = await publish(server.url, "life");
    expect(pub2.location).not.toBe(pub.location);
    await Promise.all([pub2.close(), v1.close(), v2.close()]);
  });

  it("a publisher closing its DTLS session without DELETE ends the room at once", async () => {
    const pub = await publish(server.url, "abrupt");
    const v = await play(server.url, "abrupt");
    await waitRoomConnected(server.url, "abrupt", 1);
    // Chromium and libdatachannel say goodbye with a DTLS close_notify; werift does not, so the test sends it.
    await sendCloseNotify(pub.pc);
    await pub.drop();
    // The 2 s promise is checked on DELETE above; here the server must notice the alert at all, so allow for load.
    await waitFor(() => v.closedAt !== undefined, 5000, "viewer closed");
    await waitFor(async () => !(await rooms(server)).some((r) => r.name === "abrupt"), 3000, "room gone");
    await v.close();
  });

  it("a session that never connects is reaped after CONNECT_TIMEOUT", async () => {
    const res = await postSdp(`${server.url}/api/whip/publish/ghost`, await publisherOffer());
    expect(res.status).toBe(201);
    expect((await rooms(server)).some((r) => r.name === "ghost")).toBe(true);
    await waitFor(async () => !(await rooms(server)).some((r) => r.name === "ghost"), 8000, "ghost reaped");
  });

  it("a publisher process killed with SIGKILL is reaped and its viewers closed", async () => {
    // The publisher runs in its own process so that killing it leaves no DTLS goodbye, like a crashed OBS.
    const script = `
      import { publish } from ${JSON.stringify(`${ROOT}/test/e2e/helpers/weriftPeers.ts`)};
      const pub = await publish(${JSON.stringify(server.url)}, "killed");
      console.log("published");
      for (;;) await pub.sendVideo(10, 20);
    `;
    const proc = spawn("bun", ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((res, rej) => {
      const timer = setTimeout(() => rej(new Error("child publisher did not start")), 15_000);
      proc.stdout.on("data", (b: Buffer) => {
        if (b.toString().includes("published")) {
          clearTimeout(timer);
          res();
        }
      });
    });
    const v = await play(server.url, "killed");
    await waitFor(async () => {
      const d = (await (await fetch(`${server.url}/api/rooms/killed`)).json()) as RoomDetails;
      return d.tracks.some((t) => t.packets > 0);
    }, 5000, "media flowing");
    proc.kill("SIGKILL");
    await waitFor(async () => !(await rooms(server)).some((r) => r.name === "killed"), 10_000, "killed publisher reaped");
    await waitFor(() => v.closedAt !== undefined, 3000, "viewer closed");
    await v.close();
  });
});

describe("shutdown", () => {
  it("SIGTERM closes sessions and exits 0 within 5 s", async () => {
    const server = await startServer();
    const pub = await publish(server.url, "term");
    const v = await play(server.url, "term");
    await waitRoomConnected(server.url, "term", 1);
    const t0 = Date.now();
    const code = await server.stop("SIGTERM");
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
    await waitFor(() => v.closedAt !== undefined, 3000, "viewer closed by shutdown");
    expect(server.lines.some((l) => l.includes("shutting down"))).toBe(true);
    await Promise.all([pub.close(), v.close()]);
  });

  it("a shutdown that has to cut something short exits 1 and says what (here: an mkv remux that hangs)", async () => {
    // An "ffmpeg" that answers -version, as the server's lookup asks, and never finishes a remux.
    const bin = join(mkdtempSync(join(tmpdir(), "roomcast-slow-ffmpeg-")), "ffmpeg");
    writeFileSync(bin, '#!/bin/sh\ncase "$*" in *-version*) echo "ffmpeg version 6.0-slow"; exit 0;; *.mkv*) exec sleep 30;; esac\nexit 1\n');
    chmodSync(bin, 0o755);
    const server = await startServer({ RECORD_ENABLED: "true", RECORD_DIR: "rec", FFMPEG_PATH: bin, TRANSCODE_ENCODER: "x264" });
    const pub = await publish(server.url, "slow", { connectTimeoutMs: 25_000 });
    await sendRealMedia(pub, { video: "vp8", seconds: 1 });
    const t0 = Date.now();
    const code = await server.stop("SIGTERM");
    expect(code).toBe(1);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(server.lines.some((l) => l.includes("shutdown cut short: recordings"))).toBe(true);
    await pub.close();
  });
});
