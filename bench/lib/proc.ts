// Child processes of the benchmark and what /proc says about them. Every child runs under coreutils `timeout`, so
// even a benchmark killed with SIGKILL leaves nothing running past its limit, and under `taskset` when the machine
// has cores to spare, so server and clients do not share a core.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { availableParallelism } from "node:os";

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export const CORES = availableParallelism();

function has(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

export const HAS_TASKSET = has("taskset");
const HAS_TIMEOUT = has("timeout");

/** The server's core and the rest, when there are at least two; undefined means no pinning. */
export function cpuPlan(): { server: string; clients: string } | undefined {
  if (CORES < 2 || !HAS_TASKSET) return undefined;
  return { server: "0", clients: CORES === 2 ? "1" : `1-${CORES - 1}` };
}

/** Moves this process (all its threads) to `cpus`, so the orchestration never runs on the server's core. */
export function pinSelf(cpus: string): void {
  spawnSync("taskset", ["-a", "-p", "-c", cpus, String(process.pid)], { stdio: "ignore" });
}

export const CLK_TCK = (() => {
  const out = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const n = Number(out.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/** utime and stime of a whole process (all threads), in microseconds; undefined once it is gone. */
export function processCpuSplitUs(pid: number): { user: number; system: number } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name may contain spaces and parentheses: the fields start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { user: (Number(fields[11]) * 1e6) / CLK_TCK, system: (Number(fields[12]) * 1e6) / CLK_TCK };
}

/** utime + stime of a whole process (all threads), in microseconds; undefined once it is gone. */
export function processCpuUs(pid: number): number | undefined {
  const t = processCpuSplitUs(pid);
  return t === undefined ? undefined : t.user + t.system;
}

/** Busy and total time of the given CPUs (e.g. "0" or "1-3"), in clock ticks, from /proc/stat. */
export function cpuTicks(cpus: string): { busy: number; total: number } {
  const [lo, hi] = cpus.split("-").map(Number) as [number, number | undefined];
  let busy = 0;
  let total = 0;
  for (const line of readFileSync("/proc/stat", "utf8").split("\n")) {
    const m = /^cpu(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const n = Number(m[1]);
    if (n < lo || n > (hi ?? lo)) continue;
    // user nice system idle iowait irq softirq steal: idle and iowait are the only idle time.
    const f = (m[2] ?? "").trim().split(/\s+/).map(Number);
    const sum = f.slice(0, 8).reduce((a, b) => a + b, 0);
    total += sum;
    busy += sum - (f[3] ?? 0) - (f[4] ?? 0);
  }
  return { busy, total };
}

/** VmRSS in kB, or undefined once the process is gone. */
export function processRssKb(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

/** The child of `pid`, which `timeout` forks and `taskset` then replaces with the real program. */
export function childOf(pid: number): number | undefined {
  for (const entry of readdirSync("/proc")) {
    const n = Number(entry);
    if (Number.isInteger(n) && parentOf(n) === pid) return n;
  }
  return undefined;
}

/** TCP ports `pid` listens on, from its socket inodes and /proc/net/tcp{,6}: PORT=0 needs no log line. */
export function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m?.[1]) inodes.add(m[1]);
      } catch {
        // The fd closed while we looked.
      }
    }
  } catch {
    return [];
  }
  const ports: number[] = [];
  for (const table of ["tcp", "tcp6"]) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      // local_address is "IP:PORT" in hex; state 0A is LISTEN; the inode is the tenth column.
      const local = cols[1];
      if (cols[3] !== "0A" || local === undefined || !inodes.has(cols[9] ?? "")) continue;
      ports.push(Number.parseInt(local.slice(local.lastIndexOf(":") + 1), 16));
    }
  }
  return ports;
}

export interface Child {
  /** The pid of the program itself (not of its `timeout` wrapper). */
  pid: number;
  proc: ChildProcess;
  /** The last lines of its stdout and stderr, for error reports. */
  tail: string[];
  exited: Promise<number | null>;
  onLine(fn: (line: string, stream: "stdout" | "stderr") => void): void;
  stop(): Promise<void>;
}

const TAIL_LINES = 60;
const children = new Set<Child>();

export interface SpawnOptions {
  cmd: string;
  args: string[];
  cpus: string | undefined;
  /** Hard limit on the child's life, enforced by `timeout` even if the benchmark dies. */
  maxSeconds: number;
  env?: Record<string, string>;
  cwd?: string;
}

/** Starts a child under `timeout` (and `taskset`), tracked so that killAll() ends it. */
export async function spawnChild(opts: SpawnOptions): Promise<Child> {
  const inner = opts.cpus !== undefined ? ["taskset", "-c", opts.cpus, opts.cmd, ...opts.args] : [opts.cmd, ...opts.args];
  const argv = HAS_TIMEOUT ? ["timeout", "-k", "5", String(Math.ceil(opts.maxSeconds)), ...inner] : inner;
  const proc = spawn(argv[0] as string, argv.slice(1), {
    cwd: opts.cwd,
    env: opts.env ?? (process.env as Record<string, string>),
    stdio: ["pipe", "pipe", "pipe"],
  });
  const tail: string[] = [];
  const listeners: ((line: string, stream: "stdout" | "stderr") => void)[] = [];
  const reader = (stream: "stdout" | "stderr") => {
    let partial = "";
    return (buf: Buffer) => {
      const parts = (partial + buf.toString("utf8")).split("\n");
      partial = parts.pop() ?? "";
      for (const line of parts) {
        if (line === "") continue;
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
        for (const fn of listeners) fn(line, stream);
      }
    };
  };
  proc.stdout?.on("data", reader("stdout"));
  proc.stderr?.on("data", reader("stderr"));
  // A child that exits closes its stdin; writing to it then must not throw in the benchmark.
  proc.stdin?.on("error", () => undefined);
  const exited = new Promise<number | null>((res) => proc.on("exit", (code, signal) => res(code ?? (signal ? 128 : null))));

  let pid = proc.pid ?? -1;
  if (HAS_TIMEOUT && proc.pid !== undefined) {
    // `timeout` forks the program; wait (bounded) until the fork exists to learn its pid.
    const until = Date.now() + 5000;
    let found: number | undefined;
    while (found === undefined && Date.now() < until && proc.exitCode === null) {
      found = childOf(proc.pid);
      if (found === undefined) await sleep(10);
    }
    pid = found ?? -1;
  }
  const child: Child = {
    pid,
    proc,
    tail,
    exited,
    onLine: (fn) => listeners.push(fn),
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        // SIGTERM to `timeout` is passed on to the program; SIGKILL follows if it lingers.
        proc.kill("SIGTERM");
        const timer = setTimeout(() => killHard(child), 5000);
        await exited;
        clearTimeout(timer);
      }
      children.delete(child);
    },
  };
  children.add(child);
  exited.then(() => children.delete(child));
  return child;
}

function killHard(child: Child): void {
  try {
    child.proc.kill("SIGKILL");
  } catch {
    // Already gone.
  }
  if (child.pid > 0) {
    try {
      process.kill(child.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/** Ends every child still running: politely, then by force after 5 s. */
export async function killAll(): Promise<void> {
  await Promise.all([...children].map((c) => c.stop()));
}

/** For process exit, where nothing asynchronous runs any more: SIGKILL at once. */
export function killAllSync(): void {
  for (const c of children) killHard(c);
  children.clear();
}
