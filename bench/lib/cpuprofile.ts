// Reads a .cpuprofile written by `bun --cpu-prof` and keeps the samples of one measured window (its wall-clock
// bounds), so what a profile says is per forwarded packet and not diluted by start-up and viewers connecting.
// The profiler's time deltas are wall time between samples of the JavaScript thread (on a loaded machine they
// include time the thread waited for the CPU), so only the shares are trusted: µs per packet is each share of the
// server's measured CPU per packet (from /proc, all threads).
//   bun bench/lib/cpuprofile.ts FILE.cpuprofile [FROM_MS TO_MS CPU_US_PER_PACKET]   (Date.now() bounds)
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  /** µs since the epoch in Bun's profiles. */
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Hot {
  name: string;
  where: string;
  ms: number;
  share: number;
  usPerPacket: number;
}

export interface ProfileSummary {
  samples: number;
  ms: number;
  functions: Hot[];
  files: Hot[];
}

function where(url: string, line: number): string {
  if (url === "") return "[native code]";
  const short = url.replace(/^file:\/\//, "").replace(/^.*\/node_modules\//, "").replace(/^.*\/main\//, "");
  return line >= 0 ? `${short}:${line + 1}` : short;
}

export function summarise(path: string, fromMs = -Infinity, toMs = Infinity, cpuUsPerPacket = Number.NaN, top = 25): ProfileSummary {
  const p = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const selfUs = new Map<number, number>();
  let t = p.startTime;
  let samples = 0;
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    t += dt;
    const ms = t / 1000;
    if (ms < fromMs || ms > toMs) continue;
    const id = p.samples[i] as number;
    // Each sample stands for the interval before it.
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
    samples++;
    total += dt;
  }
  const fn = new Map<string, { name: string; where: string; us: number }>();
  const file = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const name = node.callFrame.functionName || "(anonymous)";
    const w = where(node.callFrame.url, node.callFrame.lineNumber);
    const key = `${name}@${w}`;
    const entry = fn.get(key) ?? { name, where: w, us: 0 };
    entry.us += us;
    fn.set(key, entry);
    const f = where(node.callFrame.url, -1);
    file.set(f, (file.get(f) ?? 0) + us);
  }
  const hot = (name: string, w: string, us: number): Hot => ({
    name,
    where: w,
    ms: us / 1000,
    share: total > 0 ? us / total : 0,
    usPerPacket: total > 0 ? (us / total) * cpuUsPerPacket : Number.NaN,
  });
  return {
    samples,
    ms: total / 1000,
    functions: [...fn.values()].sort((a, b) => b.us - a.us).slice(0, top).map((e) => hot(e.name, e.where, e.us)),
    files: [...file.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([f, us]) => hot(f, "", us)),
  };
}

export function formatSummary(s: ProfileSummary): string {
  const perPacket = (h: Hot) => (Number.isFinite(h.usPerPacket) ? h.usPerPacket.toFixed(2) : "-");
  const lines = [`${s.samples} samples of the server's JavaScript thread over ${s.ms.toFixed(0)} ms`, "", "| self % | µs/pkt | function | where |", "|---:|---:|---|---|"];
  for (const h of s.functions) lines.push(`| ${(h.share * 100).toFixed(1)} | ${perPacket(h)} | ${h.name} | ${h.where} |`);
  lines.push("", "| self % | µs/pkt | file |", "|---:|---:|---|");
  for (const h of s.files) lines.push(`| ${(h.share * 100).toFixed(1)} | ${perPacket(h)} | ${h.name} |`);
  return lines.join("\n");
}

if (import.meta.main) {
  const [file, from, to, cpuUs] = process.argv.slice(2);
  if (!file) {
    console.error("usage: cpuprofile.ts FILE.cpuprofile [FROM_MS TO_MS CPU_US_PER_PACKET]");
    process.exit(2);
  }
  console.log(formatSummary(summarise(file, Number(from ?? -Infinity), Number(to ?? Infinity), Number(cpuUs ?? Number.NaN))));
}
