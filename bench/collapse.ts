// `bun run bench collapse [-- options]`: what happens past capacity. The server runs as in production (admission
// control on, ADMISSION_MAX_CPU 0.75 unless --admission says otherwise), pinned to one core; one publisher sends
// the forwarding benchmark's 2.5 Mbps stream; cheap werift viewers (bench/lib/liteViewers.ts) join until the
// server refuses them. From the cost per packet it then measures, it works out how many viewers one core can
// carry, and keeps knocking (more WHEP POSTs) until twice that many have tried, while a window measures what
// the admitted viewers receive. The goal (issue 7): admitted viewers keep ≥ 99.9 % delivery, the rest get 503.
//   options: --admission=SHARE (0.75) --window=SEC (10) --concurrency=K (6) --max=N (1000) --source
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { LiteCollected, LiteCommand, LiteReply, LiteViewersResult } from "./lib/liteViewers.ts";
import { ClientWorker, defaultClientRuntime } from "./lib/client.ts";
import { cpuPlan, killAll, processCpuUs, spawnChild, type Child } from "./lib/proc.ts";
import { machine } from "./lib/report.ts";
import { readCounters, startServer, connectedViewers } from "./lib/server.ts";

interface Options {
  admission: number;
  windowSec: number;
  concurrency: number;
  max: number;
  source: boolean;
}

function parse(args: string[]): Options {
  const o: Options = { admission: 0.75, windowSec: 20, concurrency: 6, max: 1000, source: args.includes("--source") };
  for (const arg of args) {
    if (arg === "--source" || arg === "--") continue;
    const [key, value = ""] = arg.split("=");
    const n = Number(value);
    if (key === "--admission" && n > 0 && n <= 1) o.admission = n;
    else if (key === "--window" && n >= 2 && n <= 300) o.windowSec = n;
    else if (key === "--concurrency" && Number.isInteger(n) && n >= 1 && n <= 50) o.concurrency = n;
    else if (key === "--max" && Number.isInteger(n) && n >= 10 && n <= 5000) o.max = n;
    else throw new Error(`collapse: bad option ${arg} (--admission=0-1 --window=2-300 --concurrency=1-50 --max=10-5000 --source)`);
  }
  return o;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function log(message: string): void {
  console.error(`[collapse ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

/** Datagrams the kernel dropped because a receiving socket's buffer was full, machine-wide (all our viewers). */
function rcvbufErrors(): number {
  try {
    const lines = readFileSync("/proc/net/snmp", "utf8").split("\n").filter((l) => l.startsWith("Udp:"));
    const names = (lines[0] ?? "").split(/\s+/);
    const values = (lines[1] ?? "").split(/\s+/);
    return Number(values[names.indexOf("RcvbufErrors")] ?? Number.NaN);
  } catch {
    return Number.NaN;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The lite viewers' process, spoken to in JSON lines. */
class LiteWorker {
  #next = 1;
  readonly #pending = new Map<number, (r: LiteReply) => void>();
  private constructor(readonly child: Child) {
    child.onLine((line, stream) => {
      if (stream !== "stdout" || !line.startsWith("{")) return;
      const msg = JSON.parse(line) as LiteReply;
      this.#pending.get(msg.id)?.(msg);
      this.#pending.delete(msg.id);
    });
  }

  static async start(cpus: string | undefined, maxSeconds: number): Promise<LiteWorker> {
    const script = join(import.meta.dir, "lib/liteViewers.ts");
    // BENCH_LITE_PROF=DIR profiles the viewers' processes (bun --cpu-prof), for when the client is the bottleneck.
    const prof = process.env.BENCH_LITE_PROF;
    const args = prof ? ["--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${prof}`, script] : [script];
    return new LiteWorker(await spawnChild({ cmd: process.execPath, args, cpus, maxSeconds }));
  }

  send(body: DistributiveOmit<LiteCommand, "id"> & { publisherTimeOrigin?: number }, timeoutMs: number): Promise<LiteReply> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`lite viewers did not answer ${body.t} in ${timeoutMs} ms\n${this.child.tail.slice(-10).join("\n")}`)), timeoutMs);
      this.#pending.set(id, (r) => {
        clearTimeout(timer);
        if (r.t === "error") reject(new Error(`lite viewers: ${r.message}`));
        else resolve(r);
      });
      this.child.proc.stdin?.write(`${JSON.stringify({ ...body, id })}\n`);
    });
  }

  async viewers(url: string, room: string, count: number, concurrency: number, fillUntilRefusedMs: number, timeOrigin: number): Promise<LiteViewersResult> {
    const r = await this.send({ t: "viewers", url, room, count, concurrency, timeoutMs: 240_000, fillUntilRefusedMs, publisherTimeOrigin: timeOrigin }, 250_000);
    if (r.t !== "viewers") throw new Error(`unexpected ${r.t}`);
    return r.result;
  }

  async collect(): Promise<LiteCollected> {
    const r = await this.send({ t: "collect" }, 20_000);
    if (r.t !== "collected") throw new Error(`unexpected ${r.t}`);
    return r.collected;
  }
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

export async function main(args: string[]): Promise<number> {
  const opts = parse(args);
  const plan = cpuPlan();
  const room = "collapse";
  const lifeSec = 600;
  const server = await startServer({ cpus: plan?.server, maxSeconds: lifeSec, source: opts.source, env: { ADMISSION_MAX_CPU: String(opts.admission) } });
  let worker: ClientWorker | undefined;
  let lite: LiteWorker | undefined;
  try {
    log(`${server.what} pid ${server.child.pid}${plan ? ` on cpu ${plan.server}, clients on ${plan.clients}` : ""}; ADMISSION_MAX_CPU=${opts.admission}`);
    worker = await ClientWorker.start(defaultClientRuntime(), plan?.clients, lifeSec, (m) => log(`client: ${m}`));
    await worker.publish(server.url, room, 15_000);
    lite = await LiteWorker.start(plan?.clients, lifeSec);
    // Knocking from the same process: a second one would compete for the client core and lose packets of its own.
    const pid = server.child.pid;
    /** The server's share of its core and its forwarded packets over ms. */
    const measure = async (ms: number) => {
      // CPU times and the wall clock are read together; the counters (an HTTP request, slow on a busy server)
      // outside that span, each with its own time, so a slow answer skews neither the shares nor the rate.
      const asked = performance.now();
      const f0 = await readCounters(server.url, 5000);
      const tf0 = performance.now();
      const l0 = processCpuUs(lite?.child.pid ?? -1) ?? 0;
      const c0 = processCpuUs(pid) ?? 0;
      const t0 = performance.now();
      await sleep(ms);
      const c1 = processCpuUs(pid) ?? 0;
      const l1 = processCpuUs(lite?.child.pid ?? -1) ?? 0;
      const sec = (performance.now() - t0) / 1000;
      const f1 = await readCounters(server.url, 5000);
      const tf1 = performance.now();
      if (!f0 || !f1) throw new Error("the server did not answer GET /metrics within 5 s");
      const share = (c1 - c0) / 1e6 / sec;
      const pps = (f1.forwarded - f0.forwarded) / ((tf1 - tf0) / 1000);
      return { share, usPerPacket: pps > 0 ? (share * 1e6) / pps : Number.NaN, clientShare: (l1 - l0) / 1e6 / sec, metricsMs: tf0 - asked };
    };
    await sleep(1000);
    const idle = await measure(3000);
    log(`publisher alone: server at ${(idle.share * 100).toFixed(1)} % of its core`);

    // 1. Fill: viewers join (a refused one retries after a pause) until nobody has been admitted for 6 s.
    const fill = await lite.viewers(server.url, room, opts.max, opts.concurrency, 6000, worker.timeOrigin);
    log(`fill: ${fill.admitted} admitted, ${fill.refused} refused (Retry-After ${fill.retryAfter ?? "-"}), ${fill.failed} failed of ${fill.attempted}${fill.errors.length ? `; ${fill.errors.join("; ")}` : ""}`);
    await sleep(2000);

    // 2. The capacity of one core, from a straight line through the idle and the filled server: the CPU each
    // viewer adds (its packets, its RTCP, its timers) against what is left of the core.
    const admittedNow = await connectedViewers(server.url, room, 5000);
    if (admittedNow < 0) throw new Error("the room is gone or the server did not answer GET /api/rooms within 5 s");
    const full = await measure(3000);
    const perViewer = (full.share - idle.share) / Math.max(1, admittedNow);
    const capacity = Math.floor((1 - idle.share) / perViewer);
    log(`${admittedNow} viewers connected: server at ${(full.share * 100).toFixed(0)} % of its core, ${full.usPerPacket.toFixed(2)} µs/packet, ${(perViewer * 100).toFixed(3)} % of the core per viewer → one core carries ${capacity} viewers; the viewers' process at ${(full.clientShare * 100).toFixed(0)} % of its core; GET /metrics answered in ${full.metricsMs.toFixed(0)} ms`);

    // 3. Overload: another process keeps knocking until twice the capacity has tried, while a window measures
    // what every admitted viewer receives.
    const more = Math.max(0, 2 * capacity - fill.admitted);
    await lite.send({ t: "windowStart" }, 10_000);
    const wc0 = processCpuUs(pid) ?? 0;
    const drops0 = rcvbufErrors();
    const serverBefore = await readCounters(server.url, 3000);
    const wt0 = performance.now();
    const knocking = lite.viewers(server.url, room, more, 2, 0, worker.timeOrigin);
    await sleep(opts.windowSec * 1000);
    await lite.send({ t: "windowEnd" }, 10_000);
    const windowCpu = ((processCpuUs(pid) ?? 0) - wc0) / 1e6 / ((performance.now() - wt0) / 1000);
    const receiveBufferDrops = rcvbufErrors() - drops0;
    const serverAfter = await readCounters(server.url, 3000);
    const knocked = await knocking;
    await sleep(500);
    const collected = await lite.collect();
    // Tried: every viewer that asked once (a refused fill attempt retried is the same viewer asking again).
    const attempted = fill.admitted + knocked.attempted;
    const admitted = fill.admitted + knocked.admitted;
    const refused = knocked.refused;
    const failed = fill.failed + knocked.failed;
    // What the viewers read, counted from RTP sequence numbers: a client too slow to read counts against the server.
    const delivered = collected.expected > 0 ? collected.received / collected.expected : 0;
    // A scrape that timed out leaves these unknown (null in the JSON), never a difference against zero.
    const scraped = serverBefore !== undefined && serverAfter !== undefined;
    const sendFailed = scraped ? serverAfter.dropped - serverBefore.dropped : Number.NaN;
    const forwardedInWindow = scraped ? serverAfter.forwarded - serverBefore.forwarded : Number.NaN;
    const worst = collected.delivered.length ? Math.min(...collected.delivered) : 0;
    const p50 = pct(collected.latencyMs, 50);
    const p99 = pct(collected.latencyMs, 99);
    const admittedDuringWindow = knocked.admitted;
    const usPerPacket = full.usPerPacket;

    console.log(
      [
        "",
        "| one core carries | viewers tried | admitted | refused 503 | failed | delivered (admitted) | worst viewer | p50 ms | p99 ms | server CPU % |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        `| ${capacity} | ${attempted} | ${admitted} | ${refused} | ${failed} | ${delivered.toFixed(4)} | ${worst.toFixed(4)} | ${p50.toFixed(2)} | ${p99.toFixed(2)} | ${(windowCpu * 100).toFixed(0)} |`,
        "",
        `of ${collected.expected} packets due to the admitted viewers, ${collected.received} were read; the kernel dropped ${receiveBufferDrops} at full receive buffers (the viewers' sockets, when their one-core client falls behind); ${scraped ? `the server handed ${forwardedInWindow} packets to its socket and counted ${sendFailed} it could not send` : "the server did not answer GET /metrics within 3 s at the window's start or end"}`,
        `${usPerPacket.toFixed(2)} µs/packet at ${admittedNow} viewers; ${admittedDuringWindow} more admitted while knocking; lite client CPU ${((collected.cpu.user + collected.cpu.system) / 1e6).toFixed(1)} s in all`,
        `machine: ${JSON.stringify(machine())}`,
      ].join("\n"),
    );
    const ok = attempted >= 2 * capacity && delivered >= 0.999 && refused > 0;
    console.log(
      JSON.stringify({
        mode: "collapse",
        capacity,
        attempted,
        admitted,
        refused,
        failed,
        deliveredRatio: Number(delivered.toFixed(5)),
        serverForwarded: forwardedInWindow,
        serverSendFailed: sendFailed,
        worstViewerDelivered: Number(worst.toFixed(5)),
        p50LatencyMs: Number(p50.toFixed(2)),
        p99LatencyMs: Number(p99.toFixed(2)),
        serverCpuPct: Number((windowCpu * 100).toFixed(1)),
        lostPackets: collected.expected - collected.received,
        receiveBufferDrops,
        // Most of what was lost was dropped at the viewers' own full sockets: the client core, not the server.
        clientLimited: collected.expected - collected.received > 0 && receiveBufferDrops >= 0.5 * (collected.expected - collected.received),
        usPerPacket: Number(usPerPacket.toFixed(2)),
        admissionMaxCpu: opts.admission,
        ok,
      }),
    );
    return ok ? 0 : 1;
  } finally {
    await lite?.send({ t: "stop" }, 5000).catch(() => undefined);
    await worker?.stop();
    await server.stop();
    await killAll();
  }
}
