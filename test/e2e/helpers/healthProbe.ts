// Polls a server's /healthz every 20 ms from a process of its own, so what it measures is the server, not the test
// worker's own event loop (werift peers, building attack bodies, GC).
//
// On a shared 2-core machine a slow answer is often not the server's doing: the kernel gave its CPU to another
// process. So each answer is also given the CPU time the server process used while it was awaited (/proc), and
// `ownMax` is the worst of min(latency, that CPU): a server that held its event loop was computing all that time,
// so its slow answers count in full, while one that was merely not scheduled used little CPU and does not.
import { spawn } from "node:child_process";

const PROBE = `
const [url, pid] = process.argv.slice(1);
const { readFileSync } = require("node:fs");
// utime + stime of the server, in ms (Linux: fields 14 and 15 of /proc/PID/stat, in 1/100 s).
function cpuMs() {
  try {
    const stat = readFileSync("/proc/" + pid + "/stat", "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch { return undefined; }
}
let max = 0, ownMax = 0, count = 0, failures = 0, stopping = false;
async function loop() {
  while (!stopping) {
    const c0 = cpuMs();
    const t = performance.now();
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      await res.text();
      if (res.status !== 200) failures++;
    } catch { failures++; }
    const ms = performance.now() - t;
    const c1 = cpuMs();
    // One tick of slack: the CPU counters move in 10 ms steps.
    const own = c0 === undefined || c1 === undefined ? ms : Math.min(ms, c1 - c0 + 10);
    max = Math.max(max, ms);
    ownMax = Math.max(ownMax, own);
    count++;
    await new Promise((r) => setTimeout(r, 20));
  }
  process.stdout.write(JSON.stringify({ max, ownMax, count, failures }) + "\\n");
}
process.stdin.on("data", () => { stopping = true; });
process.stdin.resume();
// The first fetches set up the HTTP client and its connection: not the server's time.
(async () => {
  for (let i = 0; i < 5; i++) await fetch(url).then((r) => r.text()).catch(() => undefined);
  process.stdout.write("ready\\n");
  await loop();
  process.exit(0);
})();
`;

export interface HealthReport {
  /** Slowest answer, in ms, whatever made it slow. */
  max: number;
  /** Slowest answer the server itself accounts for: min(latency, its CPU time meanwhile), in ms. */
  ownMax: number;
  count: number;
  failures: number;
}

export async function startHealthProbe(baseUrl: string, pid: number): Promise<{ stop(): Promise<HealthReport> }> {
  const child = spawn(process.execPath, ["-e", PROBE, `${baseUrl}/healthz`, String(pid)], { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  const ready = new Promise<void>((resolve) => {
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString("utf8");
      if (out.includes("ready\n")) resolve();
    });
  });
  await ready;
  return {
    stop: () =>
      new Promise<HealthReport>((resolve, reject) => {
        child.on("exit", () => {
          const line = out.split("\n").find((l) => l.startsWith("{"));
          if (!line) reject(new Error(`health probe printed no report: ${out}`));
          else resolve(JSON.parse(line) as HealthReport);
        });
        child.stdin.write("stop\n");
      }),
  };
}
