// `bun run bench records [-- --files=N]`: what GET /api/records costs over a big RECORD_DIR (issue 14 item 3: with
// 20,000 files one listing took 0.3-0.45 s, 100 at once 3.7 GB). In this process, through the app as the server
// wires it: the index's first read (a directory scan and a stat of each file: what every request used to do), then
// requests of the default page, of one room, for a token that opens no room, and a walk through every page.
// Bound (generous): no listing request over 50 ms. Prints a table, then one JSON object as the last line.
import "../src/polyfills.ts";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { Authorizer } from "../src/auth/authorizer.ts";
import { loadConfig } from "../src/config.ts";
import { createApp } from "../src/http/app.ts";
import { Recordings } from "../src/media/recorder/recordings.ts";
import { Metrics } from "../src/metrics/metrics.ts";
import { EventsHub } from "../src/room/eventsHub.ts";
import { RoomRegistry } from "../src/room/registry.ts";
import { loadAverage, machine } from "./lib/report.ts";

export async function main(args: string[]): Promise<number> {
  const files = Number(args.find((a) => a.startsWith("--files="))?.slice(8) ?? 20_000);
  const rooms = 40;
  const dir = mkdtempSync(join(tmpdir(), "roomcast-bench-records-"));
  try {
    for (let i = 0; i < files; i++) writeFileSync(join(dir, `room${i % rooms}_video0_${1_700_000_000 + i}.ivf`), "x");
    const config = loadConfig({ RATE_LIMIT_RPS: "0", RECORD_ENABLED: "true", RECORD_DIR: dir, ROOM_TOKENS: "room7:t7,none:tn", AUTH_TOKEN: "all" });
    const log = pino({ level: "silent" });
    const metrics = new Metrics();
    const recordings = new Recordings({ config, metrics, log }, { remux: false });
    const rssBefore = process.memoryUsage().rss;
    let t = performance.now();
    await recordings.start();
    const loadMs = performance.now() - t;
    const rssIndex = process.memoryUsage().rss - rssBefore;
    t = performance.now();
    await recordings.store.rescan();
    const rescanMs = performance.now() - t;
    const registry = new RoomRegistry({ config, metrics, log, recordings });
    const app = createApp({ config, registry, events: new EventsHub(registry), authorizer: new Authorizer(config), metrics, log, version: "bench", recordings });

    const time = async (path: string, token: string, n: number) => {
      const ms: number[] = [];
      for (let i = 0; i < n; i++) {
        const s = performance.now();
        const res = await app.request(path, { headers: { Authorization: `Bearer ${token}` } });
        await res.arrayBuffer();
        ms.push(performance.now() - s);
      }
      ms.sort((a, b) => a - b);
      return { median: ms[Math.floor(n / 2)] ?? 0, p99: ms[Math.floor(n * 0.99)] ?? 0, max: ms[n - 1] ?? 0 };
    };
    const rows: [string, { median: number; p99: number; max: number }][] = [
      ["default page (100), all rooms", await time("/api/records", "all", 300)],
      ["1000 entries, all rooms", await time("/api/records?limit=1000", "all", 100)],
      ["one room's token, first page", await time("/api/records", "t7", 300)],
      ["?room=room3", await time("/api/records?room=room3", "all", 300)],
      ["a token that opens no room", await time("/api/records", "tn", 300)],
    ];
    t = performance.now();
    let path: string | undefined = "/api/records?limit=1000";
    let pages = 0;
    while (path) {
      const res: Response = await app.request(path, { headers: { Authorization: "Bearer all" } });
      await res.arrayBuffer();
      pages++;
      path = /^<([^>]+)>/.exec(res.headers.get("link") ?? "")?.[1];
    }
    const walkMs = performance.now() - t;
    registry.close("bench done");
    await recordings.close(1000);

    const m = machine();
    console.log(`records bench: ${files} files in ${rooms} rooms, ${m.cpu}, ${m.nproc} cores, load ${loadAverage().toFixed(2)}`);
    console.log(`index read at start: ${loadMs.toFixed(0)} ms (a scan and ${files} stats; what each request used to cost), rescan of known files ${rescanMs.toFixed(0)} ms, RSS +${(rssIndex / 1e6).toFixed(1)} MB`);
    console.log("request                                   median      p99      max  (ms)");
    for (const [name, r] of rows) console.log(`${name.padEnd(40)} ${r.median.toFixed(2).padStart(7)}  ${r.p99.toFixed(2).padStart(7)}  ${r.max.toFixed(2).padStart(7)}`);
    console.log(`walk through all ${pages} pages of 1000: ${walkMs.toFixed(0)} ms`);
    const worst = Math.max(...rows.map(([, r]) => r.max));
    const ok = worst < 50;
    console.log(`slowest request ${worst.toFixed(2)} ms (bound 50): ${ok ? "ok" : "OVER"}`);
    console.log(JSON.stringify({ bench: "records", files, loadMs, rescanMs, rssIndex, requests: Object.fromEntries(rows), pages, walkMs, ok }));
    return ok ? 0 : 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
