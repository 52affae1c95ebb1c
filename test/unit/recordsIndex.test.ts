// The recordings index (issue 14 item 3): GET /api/records is served from an index read at start, in pages, with
// the token's rooms picked before any work, and no directory scan or stat per request. Counted through the store's
// file-system port, on a real folder of 20,000 files.
import "../../src/polyfills.ts";
import { mkdtempSync, rmSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Authorizer } from "../../src/auth/authorizer.ts";
import { loadConfig, type Env } from "../../src/config.ts";
import { createApp } from "../../src/http/app.ts";
import { decodeCursor, encodeCursor } from "../../src/http/routes/records.ts";
import { Recordings } from "../../src/media/recorder/recordings.ts";
import { nodeRecordFs, RecordStore, type RecordFs } from "../../src/media/recorder/store.ts";
import { Metrics } from "../../src/metrics/metrics.ts";
import { EventsHub } from "../../src/room/eventsHub.ts";
import { RoomRegistry } from "../../src/room/registry.ts";

const FILES = 20_000;
const ROOMS = 40;
let dir: string;

/** The real file system, counting each call. */
function countingFs() {
  const calls = { readdir: 0, lstat: 0, unlink: 0 };
  const fs: RecordFs = {
    readdir: (d) => (calls.readdir++, nodeRecordFs.readdir(d)),
    lstat: (p) => (calls.lstat++, nodeRecordFs.lstat(p)),
    unlink: (p) => (calls.unlink++, nodeRecordFs.unlink(p)),
  };
  return { fs, calls };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "roomcast-index-"));
  for (let i = 0; i < FILES; i++) {
    const name = `room${i % ROOMS}_video0_${1_700_000_000 + i}.ivf`;
    writeFileSync(join(dir, name), "x".repeat(i % 7));
  }
  // A few with known times, to check the order across rooms.
  utimesSync(join(dir, "room1_video0_1700000001.ivf"), 2_000_000_000, 2_000_000_000);
  utimesSync(join(dir, "room2_video0_1700000002.ivf"), 1_999_999_999, 1_999_999_999);
  writeFileSync(join(dir, "notes.txt"), "not a recording");
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const registries: RoomRegistry[] = [];
afterEach(() => {
  for (const r of registries.splice(0)) r.close("test done");
});

async function server(env: Env = {}) {
  const config = loadConfig({ RATE_LIMIT_RPS: "0", RECORD_ENABLED: "true", RECORD_DIR: dir, ...env });
  const log = pino({ level: "silent" });
  const metrics = new Metrics();
  const { fs, calls } = countingFs();
  const recordings = new Recordings({ config, metrics, log }, { remux: false, fs });
  await recordings.start();
  const registry = new RoomRegistry({ config, metrics, log, recordings });
  registries.push(registry);
  const app = createApp({ config, registry, events: new EventsHub(registry), authorizer: new Authorizer(config), metrics, log, version: "0.0.0-test", recordings });
  return { app, calls, recordings };
}

type Listed = { name: string; room: string; size: number; modTime: string; inProgress: boolean };
const bearer = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });

describe("GET /api/records over 20,000 files", () => {
  it("pages through every file exactly once, newest first, with no directory scan or stat per request", async () => {
    const { app, calls } = await server({ AUTH_TOKEN: "all" });
    const atStart = { ...calls };
    expect(atStart.readdir).toBeGreaterThanOrEqual(1); // read once at start
    const seen: Listed[] = [];
    let path: string | undefined = "/api/records?limit=1000";
    let pages = 0;
    while (path) {
      const res = await app.request(path, bearer("all"));
      expect(res.status).toBe(200);
      const page = (await res.json()) as Listed[];
      expect(page.length).toBeLessThanOrEqual(1000);
      seen.push(...page);
      pages++;
      const link = res.headers.get("link");
      const cursor = res.headers.get("x-next-cursor");
      if (link) {
        expect(link).toBe(`</api/records?limit=1000&cursor=${cursor}>; rel="next"`);
        path = /^<([^>]+)>/.exec(link)?.[1];
      } else {
        expect(cursor).toBeNull();
        path = undefined;
      }
    }
    expect(pages).toBe(FILES / 1000);
    expect(seen).toHaveLength(FILES);
    expect(new Set(seen.map((r) => r.name)).size).toBe(FILES);
    expect(seen.slice(0, 2).map((r) => r.name)).toEqual(["room1_video0_1700000001.ivf", "room2_video0_1700000002.ivf"]);
    for (let i = 1; i < seen.length; i++) expect(seen[i - 1]!.modTime >= seen[i]!.modTime).toBe(true);
    expect(calls).toEqual(atStart);
  });

  it("the default page is 100; ?limit= above 1000 is served as 1000; a bad limit or cursor is a 400", async () => {
    const { app } = await server();
    const list = async (q: string) => (await (await app.request(`/api/records${q}`)).json()) as Listed[];
    expect(await list("")).toHaveLength(100);
    expect(await list("?limit=5000")).toHaveLength(1000);
    for (const q of ["?limit=0", "?limit=-1", "?limit=ten", "?limit=1.5", "?cursor=%%%", "?cursor=bm9wZQ", `?cursor=${"A".repeat(600)}`]) {
      const res = await app.request(`/api/records${q}`);
      expect(res.status, q).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(/^(limit must be|invalid cursor)/);
    }
  });

  it("a token's rooms are picked first: one that opens no listed room gets [] at no cost, one room gets its own", async () => {
    const { app, calls } = await server({ ROOM_TOKENS: "room7:t7,empty:te" });
    const before = { ...calls };
    const none = await app.request("/api/records?limit=1000", bearer("te"));
    expect(await none.json()).toEqual([]);
    expect(none.headers.get("link")).toBeNull();
    const names: string[] = [];
    let cursor: string | null = null;
    do {
      const res: Response = await app.request(`/api/records?limit=200${cursor ? `&cursor=${cursor}` : ""}`, bearer("t7"));
      const page = (await res.json()) as Listed[];
      expect(page.every((r) => r.room === "room7")).toBe(true);
      names.push(...page.map((r) => r.name));
      cursor = res.headers.get("x-next-cursor");
    } while (cursor);
    expect(names).toHaveLength(FILES / ROOMS);
    // ?room= of a room the token does not open: nothing, not a 403 (as before the index).
    expect(await (await app.request("/api/records?room=room8", bearer("t7"))).json()).toEqual([]);
    expect(calls).toEqual(before);
  });

  it("?token= pages keep the token and the room in the next link", async () => {
    const { app } = await server({ ROOM_TOKENS: "room3:t3" });
    const res = await app.request("/api/records?token=t3&room=room3&limit=10");
    const link = res.headers.get("link") ?? "";
    expect(link).toMatch(/^<\/api\/records\?token=t3&room=room3&limit=10&cursor=[A-Za-z0-9_-]+>; rel="next"$/);
  });
});

describe("RecordStore index", () => {
  it("learns of files the server writes, finishes and deletes, and of files added or removed by hand on a rescan", async () => {
    const small = mkdtempSync(join(tmpdir(), "roomcast-index-small-"));
    writeFileSync(join(small, "a_video0_1.ivf"), "aaaa");
    const { fs, calls } = countingFs();
    const store = new RecordStore(small, fs);
    await store.load();
    expect((await store.list()).map((r) => r.name)).toEqual(["a_video0_1.ivf"]);

    // The server writes b: listed at once, growing, from what the recorder reports (no stat).
    let size = 0;
    store.begin("b_audio0_2.ogg", () => ({ size, mtimeMs: Date.now() }));
    writeFileSync(join(small, "b_audio0_2.ogg"), "bb");
    size = 2;
    const during = await store.list();
    expect(during[0]).toMatchObject({ name: "b_audio0_2.ogg", size: 2, inProgress: true });
    expect(await store.remove("b_audio0_2.ogg")).toBe("in_progress");
    store.end("b_audio0_2.ogg");
    expect((await store.list())[0]).toMatchObject({ name: "b_audio0_2.ogg", size: 2, inProgress: false });

    // By hand: c added, a removed. Not seen until the rescan.
    writeFileSync(join(small, "c_video0_3.ivf"), "c");
    unlinkSync(join(small, "a_video0_1.ivf"));
    const before = calls.readdir;
    await store.rescan();
    expect(calls.readdir).toBe(before + 1);
    expect((await store.list()).map((r) => r.name).sort()).toEqual(["b_audio0_2.ogg", "c_video0_3.ivf"]);

    // DELETE through the store: gone from the index and the folder.
    expect(await store.remove("c_video0_3.ivf")).toBe("deleted");
    expect((await store.list()).map((r) => r.name)).toEqual(["b_audio0_2.ogg"]);
    expect(await store.find("c_video0_3.ivf")).toBeUndefined();
    rmSync(small, { recursive: true, force: true });
  });

  it("cursors round-trip and refuse what is not one", () => {
    const c = { mtimeMs: 1710123456789.123, name: "demo_video0_1710123456.ivf" };
    expect(decodeCursor(encodeCursor(c))).toEqual(c);
    expect(() => decodeCursor(Buffer.from("12/../etc/passwd").toString("base64url"))).toThrow(/invalid cursor/);
    expect(() => decodeCursor(Buffer.from("x/demo_video0_1.ivf").toString("base64url"))).toThrow(/invalid cursor/);
  });
});
