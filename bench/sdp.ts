// `bun run bench sdp [-- options]`: what the worst offers cost (issue 14). Three parts:
//
//   parse    our own reading of each hostile offer (test/fixtures/hostileSdp.ts) as the route does it (size cap,
//            acceptBundleOnly, parseOffer), in this process with the server's JIT policy: the first (cold) call,
//            then the median, p99 and worst of --runs calls, each after a full collection (what one offer costs
//            when it arrives: back to back, the garbage of the calls before would be collected inside the next
//            one), in wall time, and the worst in CPU time (on a shared machine the wall time of one call includes
//            being preempted; its CPU time does not, but counts the JIT's and the collector's threads)
//   werift   werift's work for the heaviest offers the caps let through (setRemoteDescription, createAnswer,
//            setLocalDescription): the longest stretch it holds the event loop, median of 5
//   server   each hostile offer POSTed again and again for --seconds to the built server (dist/roomcast, else
//            src/main.ts) while a second process polls /healthz every 20 ms: the status, and the slowest /healthz
//
// Bounds (generous, so the bench fails only on a real regression): no parse over 50 ms, no /healthz over 100 ms. Exit code 1 past them. Prints tables, then one JSON object as the last line.
//   options: --runs=N (200) --seconds=S (1.5) --source
import { spawn } from "node:child_process";
import { RTCPeerConnection } from "werift";
import { acceptBundleOnly } from "../src/rtc/bundleOnly.ts";
import { oversizedOffer, parseOffer, SdpError } from "../src/rtc/sdp.ts";
import { loadSdp } from "../test/fixtures/fixtures.ts";
import * as hostile from "../test/fixtures/hostileSdp.ts";
import { killAll } from "./lib/proc.ts";
import { loadAverage, machine } from "./lib/report.ts";
import { startServer } from "./lib/server.ts";

interface Options {
  runs: number;
  seconds: number;
  source: boolean;
}

function parse(args: string[]): Options {
  const o: Options = { runs: 200, seconds: 1.5, source: args.includes("--source") };
  for (const arg of args) {
    const [key, value = ""] = arg.split("=");
    const n = Number(value);
    if (key === "--runs" && n >= 1) o.runs = Math.floor(n);
    if (key === "--seconds" && n > 0) o.seconds = n;
  }
  return o;
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const CASES: [string, () => string][] = [
  ["chromium offer (real, 6 KB)", () => loadSdp("chromium-mdns-datachannel")],
  ["1,000 unbundled sections (298 KB)", () => hostile.unbundledSections(1000)],
  ["17 unbundled sections", () => hostile.unbundledSections(17)],
  ["20,000 a=ssrc (520 KB)", () => hostile.manySsrc(20_000)],
  ["1 MB of garbage after v=0", () => hostile.garbage()],
  ["one 1 MB line", () => hostile.oneLongLine()],
  ["1 MB of blank lines", () => hostile.blankLines()],
  ["1,024 distinct lines, refused at the last (32 KB)", () => hostile.maxLinesThenRefused()],
  ["heaviest valid: fmtp fill (32 KB)", () => hostile.heaviestValid("fmtp")],
  ["heaviest valid: rtcp-fb * fill", () => hostile.heaviestValid("rtcp-fb")],
  ["heaviest valid: 128 candidates", () => hostile.heaviestValid("candidate")],
  ["heaviest valid: 64 a=ssrc a section", () => hostile.heaviestValid("ssrc")],
  ["ice-ufrag of 400 KB", () => hostile.hugeUfrag(400_000)],
  ["fingerprint md5", () => hostile.badFingerprint("md5 D4:1D:8C:D9:8F:00:B2:04:E9:80:09:98:EC:F8:42:7E")],
  ["two sections with mid v", () => hostile.duplicateMids()],
];

/** What the WHIP/WHEP route does with a body before negotiation (http/sdpBody.ts). */
function readAsRoute(sdp: string): string {
  const big = oversizedOffer(sdp);
  if (big) return `400 ${big.detail}`;
  try {
    parseOffer(acceptBundleOnly(sdp));
    return "accepted";
  } catch (err) {
    if (err instanceof SdpError) return `400 ${err.detail}`;
    throw err;
  }
}

function stats(ms: number[]): { first: number; median: number; p99: number; max: number } {
  const first = ms[0] ?? 0;
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
  return { first, median: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? 0 };
}

const f = (n: number) => n.toFixed(2).padStart(7);

async function weriftGap(sdp: string): Promise<number> {
  const pc = new RTCPeerConnection({});
  let last = performance.now();
  let gap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    last = now;
  }, 1);
  await new Promise((r) => setTimeout(r, 5));
  last = performance.now();
  gap = 0;
  try {
    await pc.setRemoteDescription({ type: "offer", sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await new Promise((r) => setTimeout(r, 5));
  } finally {
    clearInterval(timer);
    await pc.close();
  }
  return gap;
}

const PROBE = `
const url = process.argv[1];
let max = 0, count = 0, stopping = false;
process.stdin.on("data", () => { stopping = true; });
(async () => {
  for (let i = 0; i < 5; i++) await fetch(url).then((r) => r.text()).catch(() => undefined);
  process.stdout.write("ready\\n");
  while (!stopping) {
    const t = performance.now();
    await fetch(url).then((r) => r.text()).catch(() => undefined);
    max = Math.max(max, performance.now() - t);
    count++;
    await new Promise((r) => setTimeout(r, 20));
  }
  process.stdout.write(JSON.stringify({ max, count }) + "\\n");
  process.exit(0);
})();
`;

async function probeWhile<T>(url: string, work: () => Promise<T>): Promise<{ result: T; max: number; count: number }> {
  const child = spawn(process.execPath, ["-e", PROBE, `${url}/healthz`], { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  await new Promise<void>((resolve) =>
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString();
      if (out.includes("ready\n")) resolve();
    }),
  );
  const result = await work();
  const done = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  child.stdin.write("stop\n");
  await done;
  const report = JSON.parse(out.split("\n").find((l) => l.startsWith("{")) ?? '{"max":0,"count":0}') as { max: number; count: number };
  return { result, ...report };
}

export async function main(args: string[]): Promise<number> {
  const o = parse(args);
  // As the server runs its setup code (JIT_TIER_UP_SCALE, default 10): our parser stays in the lower tiers longer.
  (Bun.unsafe as { setJITPolicy?: (scale: number) => void }).setJITPolicy?.(10);
  const m = machine();
  console.log(`sdp bench: ${m.cpu}, ${m.nproc} cores, load ${loadAverage().toFixed(2)}, ${o.runs} runs, ${o.seconds} s of POSTs a case`);

  console.log("\nparse (ms)                                          bytes   first  median     p99     max  cpu max  result");
  const parsed: Record<string, unknown>[] = [];
  let worstParse = 0;
  for (const [name, make] of CASES) {
    const sdp = make();
    const ms: number[] = [];
    let cpuMax = 0;
    let result = "";
    for (let i = 0; i < o.runs; i++) {
      Bun.gc(true);
      const c = cpuMs();
      const t = performance.now();
      result = readAsRoute(sdp);
      ms.push(performance.now() - t);
      cpuMax = Math.max(cpuMax, cpuMs() - c);
    }
    const s = stats(ms);
    worstParse = Math.max(worstParse, s.max);
    parsed.push({ name, bytes: sdp.length, ...s, cpuMax, result });
    console.log(`${name.padEnd(50)} ${String(sdp.length).padStart(7)} ${f(s.first)} ${f(s.median)} ${f(s.p99)} ${f(s.max)}  ${f(cpuMax)}  ${result.slice(0, 44)}`);
  }

  console.log("\nwerift, heaviest accepted offers: longest event-loop hold (ms), median of 5");
  const weriftRows: Record<string, unknown>[] = [];
  for (const [name, make] of CASES.filter(([n]) => n.startsWith("heaviest") || n.startsWith("chromium"))) {
    const sdp = make();
    const gaps: number[] = [];
    for (let i = 0; i < 5; i++) gaps.push(await weriftGap(sdp));
    gaps.sort((a, b) => a - b);
    weriftRows.push({ name, median: gaps[2], max: gaps[4] });
    console.log(`${name.padEnd(50)} median ${f(gaps[2] ?? 0)}  max ${f(gaps[4] ?? 0)}`);
  }

  const server = await startServer({ cpus: undefined, maxSeconds: 600, source: o.source });
  const serverRows: Record<string, unknown>[] = [];
  let worstHealth = 0;
  try {
    console.log(`\nserver (${server.what}): each case POSTed to WHIP for ${o.seconds} s while /healthz is polled`);
    for (const [name, make] of CASES.filter(([n]) => !n.startsWith("chromium") && !n.startsWith("heaviest"))) {
      const body = make();
      const { result, max, count } = await probeWhile(server.url, async () => {
        const statuses = new Set<number>();
        let error = "";
        let posts = 0;
        for (const until = performance.now() + o.seconds * 1000; performance.now() < until; posts++) {
          const res = await fetch(`${server.url}/api/whip/publish/bench`, { method: "POST", body, headers: { "Content-Type": "application/sdp" } });
          statuses.add(res.status);
          error = ((await res.json().catch(() => ({}))) as { error?: string }).error ?? "";
        }
        return { statuses: [...statuses], error, posts };
      });
      worstHealth = Math.max(worstHealth, max);
      serverRows.push({ name, ...result, healthzMaxMs: max, probes: count });
      console.log(`${name.padEnd(50)} ${result.statuses.join(",")} x${String(result.posts).padEnd(4)} /healthz max ${f(max)} ms of ${count}  ${result.error.slice(0, 50)}`);
    }
  } finally {
    await server.stop();
    await killAll();
  }
  const ok = worstParse < 50 && worstHealth < 100;
  console.log(`\nworst parse ${worstParse.toFixed(2)} ms (bound 50), slowest /healthz ${worstHealth.toFixed(1)} ms (bound 100): ${ok ? "ok" : "OVER"}`);
  console.log(JSON.stringify({ bench: "sdp", machine: m, load: loadAverage(), parse: parsed, werift: weriftRows, server: serverRows, worstParse, worstHealth, ok }));
  return ok ? 0 : 1;
}
