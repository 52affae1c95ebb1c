// Operating the binary with real werift peers sending real VP8 and Opus: GET /api/health counting them, a WHEP
// events stream (draft-ietf-wish-whep-02) seeing active → layers → viewercount, inactive on a stall and active
// again, and inactive then its end when the publisher leaves; the admin's session list with real counters, and
// a real viewer disconnected by its public id. And the binary's OpenAPI document: valid 3.1, every operation in it
// answered by the binary (none falls to the catch-all 404), and /docs rendering it. (That every route is in the
// document is test/unit/openapi.test.ts's, against Hono's route list.)
import { Validator } from "@seriousme/openapi-schema-validator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdminSession, Health } from "../../src/api.ts";
import { parseLinks } from "./helpers/browser.ts";
import { sendRealMedia } from "./helpers/realMedia.ts";
import { startServer, waitFor, type ServerHandle } from "./helpers/server.ts";
import { play, publish, viewerOffer } from "./helpers/weriftPeers.ts";

const ADMIN = "e2e-admin";
const admin = { Authorization: `Bearer ${ADMIN}` };
const SSE_REL = "urn:ietf:params:whep:ext:core:server-sent-events";

/** The room's publisher and `viewers` viewers connected, as the admin's session list says. */
async function connected(url: string, room: string, viewers: number): Promise<AdminSession[]> {
  return waitFor(
    async () => {
      const all = (await (await fetch(`${url}/api/admin/sessions`, { headers: admin })).json()) as AdminSession[];
      const mine = all.filter((s) => s.room === room && s.state === "connected");
      return mine.some((s) => s.kind === "publisher") && mine.filter((s) => s.kind === "viewer").length >= viewers ? mine : undefined;
    },
    10_000,
    `room ${room} connected with ${viewers} viewers`,
  );
}

interface SseEvent {
  type: string;
  data: unknown;
}

/** Reads a text/event-stream as it arrives; `done` settles when the server ends the stream. */
function readEvents(res: Response): { events: SseEvent[]; done: Promise<void> } {
  const events: SseEvent[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const done = (async () => {
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) return;
      buffer += value;
      let cut: number;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const type = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        // The draft: one data line of JSON per event.
        if (type !== undefined && data !== undefined) events.push({ type, data: JSON.parse(data) as unknown });
      }
    }
  })();
  return { events, done };
}

describe("operating the binary", () => {
  let server: ServerHandle;

  beforeAll(async () => {
    server = await startServer({ ADMIN_TOKEN: ADMIN });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it("GET /api/health counts the open room and its viewer; /healthz stays ok", async () => {
    const idle = (await (await fetch(`${server.url}/api/health`)).json()) as Health;
    expect(idle).toMatchObject({ status: "ok", rooms: 0, viewers: 0 });
    expect(idle.version).toMatch(/^\d+\.\d+\.\d+/);
    const pub = await publish(server.url, "healthy", { token: ADMIN });
    const sending = sendRealMedia(pub, { video: "vp8", seconds: 2 });
    const viewer = await play(server.url, "healthy", { token: ADMIN });
    try {
      await connected(server.url, "healthy", 1);
      const busy = (await (await fetch(`${server.url}/api/health`)).json()) as Health;
      expect(busy).toEqual({ status: "ok", uptime: busy.uptime, rooms: 1, viewers: 1, version: idle.version });
      expect(busy.uptime).toBeGreaterThanOrEqual(idle.uptime);
      expect(await (await fetch(`${server.url}/healthz`)).text()).toBe("ok");
    } finally {
      await sending;
      await viewer.close();
      await pub.close();
    }
  });

  it("a WHEP events stream: active, layers, viewercount; inactive when the publisher stalls, active again; inactive and the end when it leaves", async () => {
    const room = "evented";
    const pub = await publish(server.url, room, { token: ADMIN });
    // Long enough for everything up to the stall.
    let sending = sendRealMedia(pub, { video: "vp8", seconds: 4 });
    const res = await fetch(`${server.url}/api/whep/play/${room}`, {
      method: "POST",
      headers: { ...admin, "Content-Type": "application/sdp" },
      body: await viewerOffer(),
    });
    expect(res.status).toBe(201);
    const location = new URL(res.headers.get("location")!, server.url).toString();
    const link = res.headers.get("link") ?? "";
    // The 201 links the extension with the events this server sends, in the draft's form.
    expect(link).toContain(`rel="${SSE_REL}"; events="active,inactive,layers,viewercount"`);
    const eventsUrl = parseLinks(link, SSE_REL, server.url).url!;
    expect(eventsUrl).toBe(`${location}/events`);
    // That offer's session never connects; the real viewer below is the one watched.
    await fetch(location, { method: "DELETE", headers: admin });

    // Media flowing first (a cold ffmpeg encode of the source can take a while): the stream then starts "active".
    await waitFor(async () => {
      const all = (await (await fetch(`${server.url}/api/admin/sessions`, { headers: admin })).json()) as AdminSession[];
      return all.some((s) => s.room === room && s.kind === "publisher" && s.packetsReceived > 0);
    }, 20_000, "the publisher's media");
    const viewer = await play(server.url, room, { token: ADMIN });
    const events = `${viewer.location}/events`;
    const refused = await fetch(events, { method: "POST", headers: { ...admin, "Content-Type": "application/json" }, body: '["active","scte35"]' });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: string }).error).toMatch(/scte35/);
    const created = await fetch(events, {
      method: "POST",
      headers: { ...admin, "Content-Type": "application/json" },
      body: JSON.stringify(["active", "inactive", "layers", "viewercount"]),
    });
    expect(created.status).toBe(201);
    const streamUrl = new URL(created.headers.get("location")!, server.url).toString();
    expect(streamUrl.startsWith(`${events}/`)).toBe(true);
    const stream = await fetch(streamUrl);
    expect(stream.status).toBe(200);
    expect(stream.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const { events: seen, done } = readEvents(stream);
    const types = () => seen.map((e) => e.type);
    await waitFor(() => types().length >= 3, 5000, "the first events");
    expect(seen.slice(0, 3), JSON.stringify(seen)).toEqual([
      { type: "active", data: {} },
      { type: "layers", data: { "0": [{ rid: "source", bitrate: expect.any(Number) }] } },
      { type: "viewercount", data: { viewercount: 1 } },
    ]);

    const second = await play(server.url, room, { token: ADMIN });
    await waitFor(() => seen.some((e) => e.type === "viewercount" && (e.data as { viewercount: number }).viewercount === 2), 5000, "viewercount 2");
    await second.close();
    const counts = () => seen.filter((e) => e.type === "viewercount").map((e) => (e.data as { viewercount: number }).viewercount);
    await waitFor(() => counts().at(-1) === 1 && counts().includes(2), 5000, "viewercount back to 1");
    expect(counts()).toEqual([1, 2, 1]);

    // The publisher goes quiet but stays connected: inactive after the stall, active when it sends again.
    const sent = await sending;
    await waitFor(() => types().includes("inactive"), 8000, "inactive on a stall");
    expect(pub.pc.connectionState).toBe("connected");
    sending = sendRealMedia(pub, { video: "vp8", seconds: 2, startSeq: 1000 + sent.videoPackets, startTimestamp: 90_000 + sent.videoFrames * 3000 });
    await waitFor(() => types().lastIndexOf("active") > types().indexOf("inactive"), 8000, "active again");

    // The publisher leaves: the room closes, the viewer's session ends, and so does its stream, inactive first.
    await sending;
    await pub.close();
    await done;
    expect(types().at(-1)).toBe("inactive");
    expect((await fetch(streamUrl)).status).toBe(404);
    await viewer.close();
  });

  it("the admin lists every session with its counters and disconnects a real viewer by its public id", async () => {
    const room = "listed";
    const pub = await publish(server.url, room, { token: ADMIN });
    const sending = sendRealMedia(pub, { video: "vp8", seconds: 3 });
    const viewer = await play(server.url, room, { token: ADMIN });
    try {
      await connected(server.url, room, 1);
      const list = await waitFor(async () => {
        const all = (await (await fetch(`${server.url}/api/admin/sessions`, { headers: admin })).json()) as AdminSession[];
        const mine = all.filter((s) => s.room === room);
        return mine.find((s) => s.kind === "viewer" && s.packetsSent > 0) && mine.find((s) => s.kind === "publisher" && s.packetsReceived > 0) ? mine : undefined;
      }, 10_000, "sessions with counters");
      const p = list.find((s) => s.kind === "publisher")!;
      const v = list.find((s) => s.kind === "viewer")!;
      expect(p).toMatchObject({ state: "connected", clientAddress: "127.0.0.1", codecs: ["video/VP8", "audio/opus"], packetsSent: 0, layer: null, rttMs: null });
      expect(p.bytesReceived).toBeGreaterThan(p.packetsReceived);
      expect(v).toMatchObject({ state: "connected", clientAddress: "127.0.0.1", packetsReceived: 0, layer: "source" });
      expect(v.codecs).toContain("video/VP8");
      expect(v.bytesSent).toBeGreaterThan(v.packetsSent);
      // Public ids only: no secret Location id in the list.
      expect(JSON.stringify(list)).not.toContain(new URL(viewer.location).pathname.split("/").pop()!);

      const refused = await fetch(`${server.url}/api/admin/sessions/${v.id}`, { method: "DELETE" });
      expect(refused.status).toBe(401);
      const closed = await fetch(`${server.url}/api/admin/sessions/${v.id}`, { method: "DELETE", headers: admin });
      expect(closed.status).toBe(200);
      expect(await closed.json()).toEqual({ closed: v.id });
      // The viewer hears it as a DELETE on its Location would tell it: its DTLS is closed.
      await waitFor(() => viewer.closedAt, 5000, "the viewer disconnected");
      const after = (await (await fetch(`${server.url}/api/admin/sessions`, { headers: admin })).json()) as AdminSession[];
      expect(after.map((s) => s.id)).not.toContain(v.id);
      expect(after.map((s) => s.id)).toContain(p.id);
      expect((await fetch(`${server.url}/api/admin/sessions/${v.id}`, { method: "DELETE", headers: admin })).status).toBe(404);
      expect((await fetch(viewer.location, { method: "DELETE", headers: admin })).status).toBe(404);
    } finally {
      await sending;
      await viewer.close();
      await pub.close();
    }
  });

  it("serves a valid OpenAPI 3.1 document whose every operation the binary answers, and /docs", async () => {
    const res = await fetch(`${server.url}/api/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; info: { version: string }; paths: Record<string, Record<string, unknown>> };
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc) as unknown as Parameters<Validator["validate"]>[0]);
    expect(result.valid, JSON.stringify(result.errors)?.slice(0, 1000)).toBe(true);
    expect(validator.version).toBe("3.1");
    const health = (await (await fetch(`${server.url}/api/health`)).json()) as Health;
    expect(doc.info.version).toBe(health.version);

    // A bundled file of the page, for /{file}.
    const html = await (await fetch(`${server.url}/`)).text();
    const asset = /(?:src|href)="\/([^"/]+\.(?:js|css))"/.exec(html)?.[1] ?? "missing.js";
    const values: Record<string, string> = { room: "probe", session: "nosuchsession", stream: "0".repeat(32), id: "20261208T024215Z-00000000", name: "probe_video0_1710000000.ivf", file: asset };
    const methods = ["get", "post", "put", "patch", "delete"];
    let probed = 0;
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const method of Object.keys(item).filter((m) => methods.includes(m))) {
        const url = server.url + path.replace(/\{([^}]+)\}/g, (_, k: string) => values[k] ?? "x");
        const ctrl = new AbortController();
        const timer = setTimeout(() => ctrl.abort(), 5000);
        // Event streams answer at once and then stay open: the status is all this needs.
        const answer = await fetch(url, { method: method.toUpperCase(), headers: admin, body: method === "get" || method === "delete" ? undefined : "{}", signal: ctrl.signal });
        clearTimeout(timer);
        const text = answer.headers.get("content-type")?.startsWith("text/event-stream") ? "" : await answer.text();
        ctrl.abort();
        expect(answer.status, `${method} ${path}`).not.toBe(405);
        expect(answer.status === 404 && text === '{"error":"not found"}', `${method} ${path} fell to the catch-all 404`).toBe(false);
        probed++;
      }
    }
    expect(probed).toBeGreaterThan(40);

    const page = await fetch(`${server.url}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toMatch(/^default-src 'none'/);
    const body = await page.text();
    expect(body).toContain("/api/admin/captures/{id}/stop");
    expect(body).toContain("/api/whep/play/{room}/{session}/events/{stream}");
    expect(body).not.toMatch(/<script/i);
  });
});
