// The records API through app.request(), on a real folder: listing, downloads with Range, traversal, DELETE rules.
import "../../src/polyfills.ts";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { Authorizer } from "../../src/auth/authorizer.ts";
import { loadConfig, type Env } from "../../src/config.ts";
import { createApp } from "../../src/http/app.ts";
import { parseRange } from "../../src/http/routes/records.ts";
import { Recordings } from "../../src/media/recorder/recordings.ts";
import { Metrics } from "../../src/metrics/metrics.ts";
import { EventsHub } from "../../src/room/eventsHub.ts";
import { RoomRegistry } from "../../src/room/registry.ts";

const registries: RoomRegistry[] = [];
afterEach(() => {
  for (const r of registries.splice(0)) r.close("test done");
});

const CONTENT = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff));

function server(env: Env = {}) {
  const dir = mkdtempSync(join(tmpdir(), "roomcast-records-"));
  writeFileSync(join(dir, "demo_video0_1710123456.ivf"), CONTENT);
  writeFileSync(join(dir, "demo_audio0_1710123456.ogg"), "ogg");
  writeFileSync(join(dir, "other_1710123456.mkv"), "mkv");
  writeFileSync(join(dir, "readme.txt"), "not a recording");
  const config = loadConfig({ RATE_LIMIT_RPS: "0", RECORD_ENABLED: "true", RECORD_DIR: dir, ...env });
  const log = pino({ level: "silent" });
  const metrics = new Metrics();
  const authorizer = new Authorizer(config);
  const recordings = config.recordEnabled ? new Recordings({ config, metrics, log }, { remux: false }) : undefined;
  const registry = new RoomRegistry({ config, metrics, log, recordings });
  registries.push(registry);
  const app = createApp({ config, registry, events: new EventsHub(registry), authorizer, metrics, log, version: "0.0.0-test", recordings });
  return { app, dir, recordings, config };
}

const bearer = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });

describe("parseRange", () => {
  it("reads one byte range against the file size", () => {
    expect(parseRange(undefined, 100)).toBeUndefined();
    expect(parseRange("bytes=0-9", 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange("bytes=90-", 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange("bytes=90-500", 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange("bytes=-10", 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange("bytes=-500", 100)).toEqual({ start: 0, end: 99 });
    expect(parseRange("bytes=100-", 100)).toBe("unsatisfiable");
    expect(parseRange("bytes=20-10", 100)).toBe("unsatisfiable");
    expect(parseRange("bytes=-0", 100)).toBe("unsatisfiable");
    expect(parseRange("bytes=0-1,5-6", 100)).toBeUndefined(); // several ranges: the whole file
    expect(parseRange("items=0-1", 100)).toBeUndefined();
  });
});

describe("GET /api/records", () => {
  it("lists recordings newest first with name, size, modTime, url and the in-progress flag", async () => {
    const { app, recordings } = server();
    recordings?.store.begin("demo_audio0_1710123456.ogg");
    const res = await app.request("/api/records");
    expect(res.status).toBe(200);
    const list = (await res.json()) as { name: string; size: number; url: string; inProgress: boolean; modTime: string }[];
    expect(list.map((r) => r.name).sort()).toEqual(["demo_audio0_1710123456.ogg", "demo_video0_1710123456.ivf", "other_1710123456.mkv"]);
    const ivf = list.find((r) => r.name.endsWith(".ivf"));
    expect(ivf).toMatchObject({ size: 1000, url: "/records/demo_video0_1710123456.ivf", inProgress: false, room: "demo", kind: "video" });
    expect(ivf?.modTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(list.find((r) => r.name.endsWith(".ogg"))?.inProgress).toBe(true);
  });

  it("filters by ?room= and by what the token opens", async () => {
    const { app } = server({ ROOM_TOKENS: "demo:dt", AUTH_TOKEN: "all" });
    const names = async (path: string, token?: string) =>
      ((await (await app.request(path, token ? bearer(token) : {})).json()) as { name: string }[]).map((r) => r.name).sort();
    expect(await names("/api/records?room=other", "all")).toEqual(["other_1710123456.mkv"]);
    expect(await names("/api/records", "dt")).toEqual(["demo_audio0_1710123456.ogg", "demo_video0_1710123456.ivf"]);
    expect(await names("/api/records?token=dt")).toEqual(["demo_audio0_1710123456.ogg", "demo_video0_1710123456.ivf"]);
    expect((await app.request("/api/records")).status).toBe(401);
    expect((await app.request("/api/records?room=../x", bearer("all"))).status).toBe(400);
  });

  it("answers 404 when recording is off", async () => {
    const { app } = server({ RECORD_ENABLED: "false" });
    expect((await app.request("/api/records")).status).toBe(404);
    expect((await app.request("/records/demo_video0_1710123456.ivf")).status).toBe(404);
  });
});

describe("GET /records/{name}", () => {
  it("serves the file with type, length and Accept-Ranges", async () => {
    const { app } = server();
    const res = await app.request("/records/demo_video0_1710123456.ivf");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("video/x-ivf");
    expect(res.headers.get("content-length")).toBe("1000");
    expect(res.headers.get("accept-ranges")).toBe("bytes");
    expect(Buffer.from(await res.arrayBuffer())).toEqual(CONTENT);
    expect((await app.request("/records/other_1710123456.mkv")).headers.get("content-type")).toBe("video/x-matroska");
    expect((await app.request("/records/demo_audio0_1710123456.ogg")).headers.get("content-type")).toBe("audio/ogg");
  });

  it("answers Range with 206 and exactly those bytes, and 416 past the end", async () => {
    const { app } = server();
    const get = (range: string) => app.request("/records/demo_video0_1710123456.ivf", { headers: { Range: range } });
    let res = await get("bytes=100-199");
    expect(res.status).toBe(206);
    expect(res.headers.get("content-range")).toBe("bytes 100-199/1000");
    expect(res.headers.get("content-length")).toBe("100");
    expect(Buffer.from(await res.arrayBuffer())).toEqual(CONTENT.subarray(100, 200));
    res = await get("bytes=-10");
    expect(Buffer.from(await res.arrayBuffer())).toEqual(CONTENT.subarray(990));
    res = await get("bytes=990-");
    expect(res.headers.get("content-range")).toBe("bytes 990-999/1000");
    res = await get("bytes=1000-");
    expect(res.status).toBe(416);
    expect(res.headers.get("content-range")).toBe("bytes */1000");
  });

  it("answers HEAD with the headers only", async () => {
    const { app } = server();
    const res = await app.request("/records/demo_video0_1710123456.ivf", { method: "HEAD" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-length")).toBe("1000");
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  it("never reaches a file outside the folder or a non-recording: traversal, encoded slashes, absolute paths", async () => {
    const { app, dir } = server();
    writeFileSync(join(dir, "..", "x_video0_1.ivf"), "outside");
    for (const path of [
      "/records/..%2Fx_video0_1.ivf",
      "/records/%2E%2E%2Fx_video0_1.ivf",
      "/records/..%2F..%2Fetc%2Fpasswd",
      "/records/../x_video0_1.ivf",
      "/records//etc/passwd",
      `/records/${encodeURIComponent(join(dir, "demo_video0_1710123456.ivf"))}`,
      "/records/%2Fetc%2Fpasswd",
      "/records/readme.txt",
      "/records/demo_video0_1710123456.ivf%00.txt",
      "/records/nope_video0_1.ivf",
    ]) {
      const res = await app.request(path);
      expect([path, res.status]).toEqual([path, 404]);
    }
  });

  it("takes the token from the header or ?token= and hides other rooms' files", async () => {
    const { app } = server({ ROOM_TOKENS: "demo:dt" });
    expect((await app.request("/records/demo_video0_1710123456.ivf")).status).toBe(401);
    expect((await app.request("/records/demo_video0_1710123456.ivf", bearer("dt"))).status).toBe(200);
    expect((await app.request("/records/demo_video0_1710123456.ivf?token=dt")).status).toBe(200);
    expect((await app.request("/records/other_1710123456.mkv?token=dt")).status).toBe(404);
  });
});

describe("DELETE /api/records/{name}", () => {
  it("needs the admin token, refuses files in progress, and deletes finished ones", async () => {
    const { app, dir, recordings } = server({ ADMIN_TOKEN: "adm", AUTH_TOKEN: "all" });
    const del = (name: string, token?: string) => app.request(`/api/records/${name}`, { method: "DELETE", ...(token ? bearer(token) : {}) });
    expect((await del("demo_video0_1710123456.ivf")).status).toBe(401);
    expect((await del("demo_video0_1710123456.ivf", "all")).status).toBe(401);
    expect((await del("nope_video0_1.ivf", "adm")).status).toBe(404);
    expect((await del("..%2F..%2Fetc%2Fpasswd", "adm")).status).toBe(404);
    recordings?.store.begin("demo_audio0_1710123456.ogg");
    const busy = await del("demo_audio0_1710123456.ogg", "adm");
    expect(busy.status).toBe(409);
    expect(((await busy.json()) as { error: string }).error).toMatch(/in progress/);
    const ok = await del("demo_video0_1710123456.ivf", "adm");
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ deleted: "demo_video0_1710123456.ivf" });
    expect(existsSync(join(dir, "demo_video0_1710123456.ivf"))).toBe(false);
    expect((await del("demo_video0_1710123456.ivf", "adm")).status).toBe(404);
  });

  it("stays closed without an ADMIN_TOKEN configured", async () => {
    const { app } = server();
    expect((await app.request("/api/records/demo_video0_1710123456.ivf", { method: "DELETE" })).status).toBe(401);
  });
});

describe("GET /api/bootstrap", () => {
  it("tells whether recording is on", async () => {
    const on = (await (await server().app.request("/api/bootstrap")).json()) as { recordEnabled: boolean; features: { records: boolean } };
    expect([on.recordEnabled, on.features.records]).toEqual([true, true]);
    const off = (await (await server({ RECORD_ENABLED: "false" }).app.request("/api/bootstrap")).json()) as { recordEnabled: boolean };
    expect(off.recordEnabled).toBe(false);
  });
});
