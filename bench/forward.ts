// The forwarding benchmark of issue 7: the real server in its own process (on core 0 when there are two or
// more), one publisher sending a synthetic 2.5 Mbps VP8-labelled stream plus Opus-sized audio, N libdatachannel
// viewers over ICE/DTLS/SRTP on loopback (in a client worker on the other cores), and per N one measured window:
// server CPU per forwarded packet against the floor (SRTP protect + one UDP send, measured in the same run),
// delivery, one-way latency and server memory per viewer.
//
//   bun run bench                         sweep N = 10, 50, 100, 150 (20 s windows)
//   bun run bench -- --quick              N = 100 only, 10 s window, under 2 minutes
//   options: --viewers=10,50 --window=SEC --warmup=SEC --concurrency=K --source (run src/ even if dist/ is built)
//            --client=node|bun (the client worker's runtime; node when installed)
//            --cpu-prof=DIR (server from source under bun --cpu-prof, profile written at its exit)
//            --perf=DIR (perf record -g of the server during each window only: perf report -i DIR/perf-N.data)
//   Profiled runs cost the server more: read their per-packet figures as upper bounds.
//
// Prints a table, then as its last line one JSON object: the N = 100 row (or the only one) with the floor and the
// machine, and the whole sweep under "sweep".
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { resolve } from "node:path";
import { ClientWorker, defaultClientRuntime, type ClientRuntime } from "./lib/client.ts";
import { formatSummary, summarise } from "./lib/cpuprofile.ts";
import { measureFloor, type FloorResult } from "./lib/floor.ts";
import { cpuPlan, cpuTicks, CORES, killAll, killAllSync, pinSelf, processCpuSplitUs, processRssKb, sleep, spawnChild } from "./lib/proc.ts";
import type { Collected, SentMark } from "./lib/protocol.ts";
import { loadAverage, machine, maxLatency, percentile, rowJson, table, type Row } from "./lib/report.ts";
import { connectedViewers, readCounters, startServer } from "./lib/server.ts";

interface Options {
  quick: boolean;
  viewers: number[];
  windowSec: number;
  warmupSec: number;
  concurrency: number;
  source: boolean;
  cpuProfDir: string | undefined;
  perfDir: string | undefined;
  client: ClientRuntime;
}

const ROOM = "bench";
/** A server too busy to answer its metrics in this time is past saturation; the window still gets measured. */
const METRICS_TIMEOUT_MS = 8000;
/** After viewers join, how long before RSS is read: their handshakes' garbage collected, their streams going. */
const SETTLE_MS = 3000;
const REPORTED_N = 100;

function parseArgs(args: string[]): Options {
  const quick = args.includes("--quick");
  const opts: Options = {
    quick,
    viewers: quick ? [100] : [10, 50, 100, 150],
    windowSec: quick ? 10 : 20,
    warmupSec: quick ? 3 : 5,
    // The server does each DTLS handshake in JavaScript: a few at a time keeps the others' media flowing.
    concurrency: 8,
    source: args.includes("--source"),
    cpuProfDir: undefined,
    perfDir: undefined,
    client: defaultClientRuntime(),
  };
  for (const arg of args) {
    const [key, value] = arg.split("=", 2);
    if (value === undefined) {
      if (key !== "--quick" && key !== "--source") throw new Error(`unknown option ${arg}`);
      continue;
    }
    const n = Number(value);
    if (key === "--viewers") opts.viewers = value.split(",").map(Number);
    else if (key === "--window") opts.windowSec = n;
    else if (key === "--warmup") opts.warmupSec = n;
    else if (key === "--concurrency") opts.concurrency = n;
    else if (key === "--cpu-prof") opts.cpuProfDir = resolve(value);
    else if (key === "--perf") opts.perfDir = resolve(value);
    else if (key === "--client" && (value === "node" || value === "bun")) opts.client = value;
    else throw new Error(`unknown option ${arg}`);
  }
  const bad = (x: number, max: number) => !Number.isFinite(x) || x <= 0 || x > max;
  if (opts.viewers.some((v) => bad(v, 1000) || !Number.isInteger(v))) throw new Error("--viewers: integers from 1 to 1000");
  if (bad(opts.windowSec, 600) || bad(opts.warmupSec, 600) || bad(opts.concurrency, 100)) {
    throw new Error("--window and --warmup: 1 to 600 s; --concurrency: 1 to 100");
  }
  return opts;
}

function log(message: string): void {
  // Progress goes to stderr so stdout stays the table and the final JSON line.
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

/** The floor in its own process on the server's core, sending to a sink process on the clients' cores. */
async function floor(plan: ReturnType<typeof cpuPlan>, budgetMs: number): Promise<FloorResult> {
  const script = new URL("./lib/floor.ts", import.meta.url).pathname;
  const sink = await spawnChild({ cmd: process.execPath, args: [script, "sink", "60000"], cpus: plan?.clients, maxSeconds: 70 });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("floor sink did not start")), 10_000);
      sink.onLine((line) => {
        const m = /"port":(\d+)/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
    });
    if (plan === undefined) return await measureFloor(port, budgetMs);
    const meter = await spawnChild({
      cmd: process.execPath,
      args: [script, "measure", String(port), String(budgetMs)],
      cpus: plan.server,
      maxSeconds: 60,
    });
    let result: FloorResult | undefined;
    meter.onLine((line, stream) => {
      if (stream === "stdout" && line.startsWith("{")) result = JSON.parse(line) as FloorResult;
    });
    const code = await meter.exited;
    if (code !== 0 || result === undefined) throw new Error(`floor measurement failed (${code}):\n${meter.tail.join("\n")}`);
    return result;
  } finally {
    await sink.stop();
  }
}

async function measureN(n: number, opts: Options, floorResult: FloorResult, plan: ReturnType<typeof cpuPlan>): Promise<Row> {
  const notes: string[] = [];
  // Limits on each child's life: generous, but finite even if this process is killed outright.
  const lifeSec = 60 + opts.warmupSec + opts.windowSec + (opts.quick ? 60 : 180);
  const server = await startServer({ cpus: plan?.server, maxSeconds: lifeSec, source: opts.source, cpuProfDir: opts.cpuProfDir });
  log(`N=${n}: ${server.what} pid ${server.child.pid} at ${server.url}${plan ? ` on cpu ${plan.server}` : ""}`);
  let worker: ClientWorker | undefined;
  let windowWall: [number, number] = [Number.NaN, Number.NaN];
  let windowCpuUsPerPacket = Number.NaN;
  try {
    worker = await ClientWorker.start(opts.client, plan?.clients, lifeSec, (m) => log(`client: ${m}`));
    const pubMs = await worker.publish(server.url, ROOM, 15_000);
    log(`N=${n}: publisher connected in ${pubMs.toFixed(0)} ms`);
    // The server's GOP cache fills at the first keyframe; its memory then is the baseline for per-viewer RSS.
    await sleep(2000);
    const rss0 = processRssKb(server.child.pid) ?? Number.NaN;

    // Viewers join in two halves, and RSS is read a few seconds after each, both before any window: the growth
    // between the two is what one more viewer costs, without the first viewers' one-time costs (JIT code, code
    // pages of libcrypto faulted in, the heap's first growth) that the average over all of them carries.
    const connectTimeoutMs = opts.quick ? 40_000 : 120_000;
    const half = Math.floor(n / 2);
    let connectMs = 0;
    const joinViewers = async (count: number) => {
      const t0 = performance.now();
      const r = await worker!.viewers(server.url, ROOM, count, opts.concurrency, connectTimeoutMs);
      connectMs += performance.now() - t0;
      await sleep(SETTLE_MS);
      return { r, rss: processRssKb(server.child.pid) ?? Number.NaN };
    };
    const first = half > 0 ? await joinViewers(half) : { r: { connected: 0, failed: 0, errors: [], connectMs: [] }, rss: rss0 };
    const second = await joinViewers(n - half);
    const vr = {
      connected: first.r.connected + second.r.connected,
      failed: first.r.failed + second.r.failed,
      errors: [...first.r.errors, ...second.r.errors],
    };
    const rssMarginalPerSubscriberKb = second.r.connected > 0 ? (second.rss - first.rss) / second.r.connected : Number.NaN;
    const connectSec = connectMs / 1000;
    log(`N=${n}: ${vr.connected} viewers connected in ${connectSec.toFixed(1)} s (${vr.failed} attempts failed)`);
    if (vr.connected < n) notes.push(`only ${vr.connected} of ${n} viewers connected`);
    if (vr.failed > 0) notes.push(`${vr.failed} viewer attempts failed: ${vr.errors.slice(0, 2).join("; ")}`);
    // Bounded: the server should count them connected within a few seconds of the clients.
    const until = Date.now() + (opts.quick ? 5000 : 10_000);
    let serverSide = await connectedViewers(server.url, ROOM, 3000);
    while (serverSide < vr.connected && Date.now() < until) {
      await sleep(200);
      serverSide = await connectedViewers(server.url, ROOM, 3000);
    }
    if (serverSide < vr.connected) {
      notes.push(serverSide < 0 ? "server did not answer GET /api/rooms in time" : `server counts ${serverSide} connected viewers, clients ${vr.connected}`);
    }
    await sleep(opts.warmupSec * 1000);

    // The window. Order matters little (ms against seconds), but each delta is divided by its own duration.
    const load0 = loadAverage();
    const c0 = await readCounters(server.url, METRICS_TIMEOUT_MS);
    const tm0 = performance.now();
    const core0 = plan ? cpuTicks(plan.server) : undefined;
    const split0 = processCpuSplitUs(server.child.pid);
    const cpu0 = split0 ? split0.user + split0.system : Number.NaN;
    const tc0 = performance.now();
    windowWall = [Date.now(), Number.NaN];
    const w0: SentMark = await worker.mark("windowStart");
    const perf = opts.perfDir === undefined ? undefined : await perfRecord(server.child.pid, opts, n, plan);
    await sleep(opts.windowSec * 1000);
    const split1 = processCpuSplitUs(server.child.pid);
    const cpu1 = split1 ? split1.user + split1.system : Number.NaN;
    const tc1 = performance.now();
    const core1 = plan ? cpuTicks(plan.server) : undefined;
    windowWall[1] = Date.now();
    const w1: SentMark = await worker.mark("windowEnd");
    const rss1 = processRssKb(server.child.pid) ?? Number.NaN;
    const c1 = await readCounters(server.url, METRICS_TIMEOUT_MS);
    const tm1 = performance.now();
    const load1 = loadAverage();
    // Packets sent at the end of the window are still on their way: let them land before counting.
    await sleep(1500);
    if (perf) {
      const code = await perf.exited;
      notes.push(code === 0 ? `perf profile of the window: ${opts.perfDir}/perf-${n}.data` : `perf record failed (${code}): ${perf.tail.slice(-2).join(" ")}`);
    }
    const collected: Collected = await worker.collect();

    const metricsSec = (tm1 - tm0) / 1000;
    const cpuSec = (tc1 - tc0) / 1000;
    const sentPackets = w1.video - w0.video + (w1.audio - w0.audio);
    let received = 0;
    for (const v of collected.viewers) received += v.video + v.audio;
    const workerSec = (w1.at - w0.at) / 1000;
    const clientCpuUs = w1.cpu.user + w1.cpu.system - (w0.cpu.user + w0.cpu.system);
    const viewerPps = received / workerSec;
    const clientCpuPct = (clientCpuUs / 1e6 / workerSec) * 100;
    let forwardedPps = c0 && c1 ? (c1.forwarded - c0.forwarded) / metricsSec : Number.NaN;
    if (!Number.isFinite(forwardedPps)) {
      notes.push(`server did not answer GET /metrics within ${METRICS_TIMEOUT_MS / 1000} s: packets counted at the viewers instead`);
      forwardedPps = viewerPps;
    }
    const cpuUs = cpu1 - cpu0;
    const serverCpuUsPerPacket = cpuUs / (forwardedPps * cpuSec);
    windowCpuUsPerPacket = serverCpuUsPerPacket;
    // Kernel time is mostly the UDP sends (and, on loopback, part of the receiving side's path).
    const serverSysUsPerPacket = split0 && split1 ? (split1.system - split0.system) / (forwardedPps * cpuSec) : Number.NaN;

    const expectedPps = (w1.video - w0.video + (w1.audio - w0.audio)) / workerSec * vr.connected;
    if (forwardedPps < expectedPps * 0.98) {
      notes.push(`server forwarded ${forwardedPps.toFixed(0)} packets/s, ${expectedPps.toFixed(0)} expected for the connected viewers`);
    }
    if (Math.abs(viewerPps - forwardedPps) > forwardedPps * 0.02) {
      notes.push(`viewers received ${viewerPps.toFixed(0)} packets/s against ${forwardedPps.toFixed(0)} forwarded`);
    }
    // On a shared machine the server's core also runs other work; what they took is what the server could not.
    let othersOnServerCorePct = Number.NaN;
    if (core0 && core1) {
      const busyPct = ((core1.busy - core0.busy) / Math.max(1, core1.total - core0.total)) * 100;
      othersOnServerCorePct = Math.max(0, busyPct - (cpuUs / 1e6 / cpuSec) * 100);
      if (othersOnServerCorePct > 10) {
        notes.push(`other processes used ${othersOnServerCorePct.toFixed(0)} % of the server's core during the window (it was ${busyPct.toFixed(0)} % busy)`);
      }
    }
    const clientCores = Math.max(1, CORES - 1);
    if (clientCpuPct > 85 * clientCores) notes.push(`client worker at ${clientCpuPct.toFixed(0)} % CPU: latency and delivery include client queuing`);
    if (collected.pacingLateMaxMs > 20) notes.push(`publisher pacing fell up to ${collected.pacingLateMaxMs.toFixed(0)} ms behind`);
    if (collected.sendFailures > 0) notes.push(`${collected.sendFailures} publisher sends failed`);
    if (w0.publisherState !== "connected" || w1.publisherState !== "connected") {
      notes.push(`publisher ${w0.publisherState} at the window's start, ${w1.publisherState} at its end: the room collapsed`);
    }
    const dropped = c0 && c1 ? c1.dropped - c0.dropped : 0;
    if (dropped > 0) notes.push(`server dropped ${dropped} packets in the window`);
    if (server.warnings.length > 0) notes.push(`server warnings: ${server.warnings.length} (first: ${server.warnings[0]?.slice(0, 160)})`);

    return {
      subscribers: n,
      connected: vr.connected,
      connectSec,
      windowSec: cpuSec,
      forwardedPps,
      viewerPps,
      serverCpuUsPerPacket,
      serverSysUsPerPacket,
      serverCpuPct: (cpuUs / 1e6 / cpuSec) * 100,
      limitUsPerPacket: floorResult.limitUsPerPacket,
      ratio: serverCpuUsPerPacket / floorResult.limitUsPerPacket,
      deliveredRatio: sentPackets > 0 ? received / (sentPackets * n) : 0,
      deliveredToConnectedRatio: sentPackets > 0 && vr.connected > 0 ? received / (sentPackets * vr.connected) : 0,
      p50LatencyMs: percentile(collected, 0.5),
      p99LatencyMs: percentile(collected, 0.99),
      maxLatencyMs: maxLatency(collected),
      rssPerSubscriberKb: vr.connected > 0 ? (rss1 - rss0) / vr.connected : Number.NaN,
      rssMarginalPerSubscriberKb,
      rssMb: rss1 / 1024,
      clientCpuPct,
      pacingLateMaxMs: collected.pacingLateMaxMs,
      droppedInWindow: dropped,
      othersOnServerCorePct,
      load: [load0, load1],
      notes,
    };
  } finally {
    // Server first: it closes its peers with DTLS alerts while the viewers still listen, instead of sending into
    // closed ports (each answered by ICMP, surfacing as ECONNREFUSED errors in the server's log).
    await server.stop();
    await worker?.stop();
    if (opts.cpuProfDir !== undefined) profileReport(opts.cpuProfDir, server.child.pid, n, windowWall, windowCpuUsPerPacket);
  }
}

/** Bun writes the profile as the server exits; its name carries the pid. Only the window's samples count. */
function profileReport(dir: string, pid: number, n: number, window: [number, number], cpuUsPerPacket: number): void {
  const file = existsSync(dir) ? readdirSync(dir).find((f) => f.includes(`.${pid}.`) && f.endsWith(".cpuprofile")) : undefined;
  if (file === undefined) {
    log(`N=${n}: no CPU profile for server pid ${pid} in ${dir}`);
    return;
  }
  const summary = summarise(`${dir}/${file}`, window[0], window[1], cpuUsPerPacket);
  console.log(`\nN=${n}: server CPU profile of the window (${dir}/${file}); µs/pkt = share × ${cpuUsPerPacket.toFixed(2)} µs measured:\n${formatSummary(summary)}\n`);
}

/** Samples the server's stacks (user and kernel) for the window, from the clients' cores. */
async function perfRecord(pid: number, opts: Options, n: number, plan: ReturnType<typeof cpuPlan>) {
  const dir = opts.perfDir as string;
  mkdirSync(dir, { recursive: true });
  return spawnChild({
    cmd: "perf",
    args: ["record", "-q", "-F", "999", "-g", "-p", String(pid), "-o", `${dir}/perf-${n}.data`, "--", "sleep", String(opts.windowSec)],
    cpus: plan?.clients,
    maxSeconds: opts.windowSec + 30,
  });
}

function failedRow(n: number, floorResult: FloorResult | undefined, err: unknown): Row {
  return {
    subscribers: n,
    connected: 0,
    connectSec: Number.NaN,
    windowSec: 0,
    forwardedPps: Number.NaN,
    viewerPps: Number.NaN,
    serverCpuUsPerPacket: Number.NaN,
    serverSysUsPerPacket: Number.NaN,
    serverCpuPct: Number.NaN,
    limitUsPerPacket: floorResult?.limitUsPerPacket ?? Number.NaN,
    ratio: Number.NaN,
    deliveredRatio: 0,
    deliveredToConnectedRatio: 0,
    p50LatencyMs: Number.NaN,
    p99LatencyMs: Number.NaN,
    maxLatencyMs: Number.NaN,
    rssPerSubscriberKb: Number.NaN,
    rssMarginalPerSubscriberKb: Number.NaN,
    rssMb: Number.NaN,
    clientCpuPct: Number.NaN,
    pacingLateMaxMs: Number.NaN,
    droppedInWindow: 0,
    othersOnServerCorePct: Number.NaN,
    load: [loadAverage(), loadAverage()],
    notes: [`failed: ${(err as Error).message?.split("\n")[0] ?? String(err)}`],
  };
}

export async function main(args: string[]): Promise<number> {
  const opts = parseArgs(args);
  const plan = cpuPlan();
  if (plan) pinSelf(plan.clients);
  const started = performance.now();
  // Every loop below is bounded on its own; this is the backstop for the whole run.
  const deadlineMs = opts.quick ? 115_000 : opts.viewers.length * (300 + opts.windowSec) * 1000 + 60_000;
  let exiting = false;
  const bail = (why: string, code: number) => {
    if (exiting) return;
    exiting = true;
    log(why);
    void killAll().finally(() => process.exit(code));
    // If a child refuses to die, do not hang: the sync kill on exit takes the rest.
    setTimeout(() => process.exit(code), 8000).unref();
  };
  const watchdog = setTimeout(() => bail(`over the ${Math.round(deadlineMs / 1000)} s limit: stopping`, 1), deadlineMs);
  process.on("SIGINT", () => bail("interrupted: stopping the server and clients", 130));
  process.on("SIGTERM", () => bail("terminated: stopping the server and clients", 143));
  process.on("exit", killAllSync);

  const m = machine();
  log(`${m.nproc} cores (${m.cpu}), load ${loadAverage()}; ${plan ? `server on cpu ${plan.server}, clients on ${plan.clients}` : "no pinning (one core or no taskset)"}`);
  let floorResult: FloorResult | undefined;
  const rows: Row[] = [];
  try {
    floorResult = await floor(plan, opts.quick ? 1200 : 3000);
    log(
      `floor: SRTP protect ${floorResult.srtpProtectUs.toFixed(2)} µs + send ${Math.min(floorResult.dgramSendUs, floorResult.bunSendUs ?? Infinity).toFixed(2)} µs = ${floorResult.limitUsPerPacket.toFixed(2)} µs/packet`,
    );
    for (const n of opts.viewers) {
      try {
        rows.push(await measureN(n, opts, floorResult, plan));
      } catch (err) {
        log(`N=${n} failed: ${(err as Error).stack ?? String(err)}`);
        rows.push(failedRow(n, floorResult, err));
      }
    }
  } finally {
    clearTimeout(watchdog);
    await killAll();
  }

  const f = floorResult;
  const floorLine = `floor (same run, cpu ${plan?.server ?? "any"}): SRTP protect ${f.srtpProtectUs.toFixed(2)} µs; send: node:dgram ${f.dgramSendUs.toFixed(2)} µs` +
    (f.bunSendUs !== undefined ? `, Bun.udpSocket send ${f.bunSendUs.toFixed(2)} µs, sendMany ${f.bunSendManyUs?.toFixed(2)} µs/packet` : "") +
    `; limit = SRTP + cheapest single send = ${f.limitUsPerPacket.toFixed(2)} µs/packet (${f.packetBytes}-byte packets)`;
  console.log("");
  console.log(table(rows));
  console.log("");
  console.log(floorLine);
  for (const r of rows) for (const note of r.notes) console.log(`N=${r.subscribers}: ${note}`);
  console.log(
    `machine: ${m.nproc} × ${m.cpu}, Linux ${m.kernel}; ${plan ? `server pinned to cpu ${plan.server}, clients to ${plan.clients}` : "not pinned"}; ` +
      `${opts.windowSec} s windows; ${((performance.now() - started) / 1000).toFixed(0)} s in all`,
  );

  const main = rows.find((r) => r.subscribers === REPORTED_N) ?? rows[rows.length - 1];
  const summary: Record<string, unknown> = {
    ...(main ? rowJson(main) : {}),
    floor: f,
    machine: { ...m, loadAverage1m: loadAverage() },
    date: new Date().toISOString(),
  };
  if (rows.length > 1) summary.sweep = rows.map(rowJson);
  console.log(JSON.stringify(summary));
  const ok = rows.every((r) => r.notes.every((n) => !n.startsWith("failed")));
  return ok ? 0 : 1;
}
