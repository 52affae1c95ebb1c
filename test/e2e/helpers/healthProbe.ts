// Polls a server's /healthz from a process of its own, so what it measures is the server's responsiveness, not the
// test worker's own event loop (werift peers, building attack bodies, GC).
import { spawn } from "node:child_process";

const PROBE = `
const url = process.argv[1];
let max = 0, count = 0, failures = 0, stopping = false;
async function loop() {
  while (!stopping) {
    const t = performance.now();
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      await res.text();
      if (res.status !== 200) failures++;
    } catch { failures++; }
    max = Math.max(max, performance.now() - t);
    count++;
    await new Promise((r) => setTimeout(r, 20));
  }
  process.stdout.write(JSON.stringify({ max, count, failures }) + "\\n");
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
  /** Slowest answer, in ms. */
  max: number;
  count: number;
  failures: number;
}

export async function startHealthProbe(baseUrl: string): Promise<{ stop(): Promise<HealthReport> }> {
  const child = spawn(process.execPath, ["-e", PROBE, `${baseUrl}/healthz`], { stdio: ["pipe", "pipe", "inherit"] });
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
