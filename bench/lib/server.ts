// The server under test, started as its own process the way it ships: dist/roomcast when built, else
// `bun run src/main.ts`. Its port comes from the "listening on" log line when the log level lets it through, else
// from the sockets it listens on (the benchmark keeps logs at warn, so logging costs nothing per packet).
import { appendFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { listeningPorts, sleep, spawnChild, type Child } from "./proc.ts";

export const ROOT = resolve(import.meta.dir, "../..");
const BINARY = join(ROOT, "dist/roomcast");

export interface ServerProcess {
  child: Child;
  url: string;
  /** "dist/roomcast" or "bun run src/main.ts". */
  what: string;
  /** Lines the server wrote at warn level or above (pino levels 40+), for the report. */
  warnings: string[];
  stop(): Promise<void>;
}

export interface ServerOptions {
  cpus: string | undefined;
  maxSeconds: number;
  /** Run src/main.ts even when dist/roomcast is built. */
  source?: boolean;
  /** Run from source under Bun's CPU profiler, writing .cpuprofile and .md files here when the server exits. */
  cpuProfDir?: string;
  /** Environment on top of the benchmark's defaults (admission control, say). */
  env?: Record<string, string>;
}

export async function startServer(opts: ServerOptions): Promise<ServerProcess> {
  const useBinary = !opts.source && opts.cpuProfDir === undefined && existsSync(BINARY);
  const cwd = mkdtempSync(join(tmpdir(), "roomcast-bench-"));
  const profile = opts.cpuProfDir === undefined ? [] : ["--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${opts.cpuProfDir}`];
  // BENCH_BUN_ARGS="--smol --preload=./heap.ts", say: Bun flags for a server run from source, for diagnosis.
  const bunArgs = process.env.BENCH_BUN_ARGS?.split(" ").filter((a) => a !== "") ?? [];
  const child = await spawnChild({
    cmd: useBinary ? BINARY : process.execPath,
    args: useBinary ? [] : [...profile, ...bunArgs, "run", join(ROOT, "src/main.ts")],
    cpus: opts.cpus,
    maxSeconds: opts.maxSeconds,
    cwd,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? cwd,
      PORT: "0",
      HOST: "127.0.0.1",
      ANNOUNCED_IPS: "127.0.0.1",
      RATE_LIMIT_RPS: "0",
      MAX_SUBS_PER_ROOM: "0",
      // The cost per packet is measured with every viewer admitted; admission control (503 at the CPU limit) is
      // what a production server runs with, and would cap N here before the sweep reaches it.
      ADMISSION_MAX_CPU: "0",
      LOG_LEVEL: process.env.BENCH_SERVER_LOG_LEVEL ?? "warn",
      DATA_DIR: join(cwd, "data"),
      RECORD_DIR: join(cwd, "recordings"),
      // The JIT trade-off (memory against CPU while code warms up) is the operator's to measure, so it passes through.
      ...(process.env.JIT_TIER_UP_SCALE !== undefined ? { JIT_TIER_UP_SCALE: process.env.JIT_TIER_UP_SCALE } : {}),
      // JavaScriptCore's own switches (BUN_JSC_logGC=true, say) pass through, for diagnosis.
      ...Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith("BUN_JSC_") && e[1] !== undefined)),
      ...opts.env,
    },
  });
  const warnings: string[] = [];
  let port: number | undefined;
  // Start-up warnings (no token configured: rooms are open) are expected here; only later ones are reported.
  let up = false;
  // BENCH_SERVER_LOG=FILE keeps every server line (with BENCH_SERVER_LOG_LEVEL=info or debug, for diagnosis).
  const logFile = process.env.BENCH_SERVER_LOG;
  child.onLine((line) => {
    if (logFile) appendFileSync(logFile, `${line}\n`);
    if (line.includes('"msg":"listening on')) {
      try {
        port = (JSON.parse(line) as { port: number }).port;
      } catch {
        // Not JSON after all: the socket scan below finds the port.
      }
    }
    const level = /"level":(\d+)/.exec(line);
    if (up && level && Number(level[1]) >= 40 && warnings.length < 50) warnings.push(line);
  });
  const what = useBinary ? "dist/roomcast" : `bun ${opts.cpuProfDir === undefined ? "" : "--cpu-prof "}run src/main.ts`;
  const fail = async (why: string): Promise<never> => {
    await child.stop();
    rmSync(cwd, { recursive: true, force: true });
    throw new Error(`${what}: ${why}\n${child.tail.slice(-20).join("\n")}`);
  };
  if (child.pid <= 0) return fail("did not start");

  // Bounded: 15 s to listen and answer /healthz.
  const until = Date.now() + 15_000;
  let url: string | undefined;
  while (Date.now() < until && url === undefined) {
    if (child.proc.exitCode !== null) return fail(`exited with ${child.proc.exitCode} before listening`);
    const candidates = port !== undefined ? [port] : listeningPorts(child.pid);
    for (const p of candidates) {
      const res = await fetch(`http://127.0.0.1:${p}/healthz`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
      if (res?.status === 200) {
        url = `http://127.0.0.1:${p}`;
        break;
      }
    }
    if (url === undefined) await sleep(50);
  }
  if (url === undefined) return fail("not answering /healthz after 15 s");
  up = true;
  return {
    child,
    url,
    what,
    warnings,
    async stop() {
      await child.stop();
      rmSync(cwd, { recursive: true, force: true });
    },
  };
}

export interface ServerCounters {
  forwarded: number;
  dropped: number;
  lost: number;
}

/**
 * The forwarding counters from GET /metrics (one request: it costs the server a little CPU, so it is rare), or
 * undefined when a saturated server does not answer in time: the window is then measured from the viewers' side.
 */
export async function readCounters(url: string, timeoutMs: number): Promise<ServerCounters | undefined> {
  let text: string;
  try {
    text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(timeoutMs) })).text();
  } catch {
    return undefined;
  }
  const sum = (name: string) => {
    let total = 0;
    const re = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "gm");
    for (const m of text.matchAll(re)) total += Number(m[1]);
    return total;
  };
  return {
    forwarded: sum("roomcast_rtp_packets_forwarded_total"),
    dropped: sum("roomcast_rtp_packets_dropped_total"),
    lost: sum("roomcast_rtp_packets_lost_total"),
  };
}

/** Viewers the server counts as connected in `room`; -1 when the room is not there or the server does not answer. */
export async function connectedViewers(url: string, room: string, timeoutMs: number): Promise<number> {
  try {
    const res = await fetch(`${url}/api/rooms/${room}`, { signal: AbortSignal.timeout(timeoutMs) });
    if (res.status !== 200) return -1;
    const d = (await res.json()) as { viewers?: { state: string }[] };
    return (d.viewers ?? []).filter((v) => v.state === "connected").length;
  } catch {
    return -1;
  }
}
