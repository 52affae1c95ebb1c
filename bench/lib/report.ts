// Turning one measured window into the figures of issue 7, and printing them for a person.
import { readFileSync } from "node:fs";
import { CORES } from "./proc.ts";
import type { Collected } from "./protocol.ts";

export interface Row {
  subscribers: number;
  /** Viewers that reached "connected" (the others count as receiving nothing). */
  connected: number;
  connectSec: number;
  windowSec: number;
  /** roomcast_rtp_packets_forwarded_total per second over the window (video and audio, all viewers). */
  forwardedPps: number;
  /** The same seen from the viewers: distinct window packets they received, per second. */
  viewerPps: number;
  serverCpuUsPerPacket: number;
  /** The kernel's part of it (stime). */
  serverSysUsPerPacket: number;
  /** Server CPU over the window, % of one core. */
  serverCpuPct: number;
  limitUsPerPacket: number;
  ratio: number;
  /** Packets the viewers received / (packets sent in the window × subscribers): a viewer that never connected counts as receiving nothing. */
  deliveredRatio: number;
  /** The same over the viewers that connected only. */
  deliveredToConnectedRatio: number;
  p50LatencyMs: number;
  p99LatencyMs: number;
  maxLatencyMs: number;
  /** (RSS after the window − RSS before any viewer) / viewers: includes the first viewers' one-time costs. */
  rssPerSubscriberKb: number;
  /** RSS growth from the second half of the viewers joining, per viewer: what one more viewer costs. */
  rssMarginalPerSubscriberKb: number;
  rssMb: number;
  /** Client worker CPU over the window, % of one core (it may use several). */
  clientCpuPct: number;
  pacingLateMaxMs: number;
  droppedInWindow: number;
  /** CPU of the server's core used by other processes during the window, % (a shared machine's noise). */
  othersOnServerCorePct: number;
  /** 1-minute load average at the start and end of the window. */
  load: [number, number];
  notes: string[];
}

/** The p-th percentile (0–1) of a sparse histogram, at the middle of its bin; the cap when it lies above. */
export function percentile(c: Collected, p: number): number {
  let total = c.latencyOverflow;
  for (const [, n] of c.latencyBins) total += n;
  if (total === 0) return Number.NaN;
  const rank = Math.ceil(p * total);
  let seen = 0;
  for (const [bin, n] of c.latencyBins) {
    seen += n;
    if (seen >= rank) return (bin + 0.5) * c.latencyBinMs;
  }
  const last = c.latencyBins[c.latencyBins.length - 1];
  return ((last?.[0] ?? 0) + 1) * c.latencyBinMs;
}

export function maxLatency(c: Collected): number {
  const last = c.latencyBins[c.latencyBins.length - 1];
  return last === undefined ? Number.NaN : (last[0] + 1) * c.latencyBinMs;
}

export function loadAverage(): number {
  try {
    return Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
  } catch {
    return Number.NaN;
  }
}

export function machine(): { nproc: number; cpu: string; kernel: string } {
  let cpu = "unknown";
  let kernel = "unknown";
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? cpu;
    kernel = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  } catch {
    // Not Linux: the figures still print.
  }
  return { nproc: CORES, cpu, kernel };
}

const round = (x: number, digits: number) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);

/** The JSON form of a row: rounded, NaN as null. */
export function rowJson(r: Row): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) {
    if (typeof v === "number") out[k] = Number.isFinite(v) ? round(v, k.endsWith("Ratio") || k === "ratio" ? 4 : 2) : null;
    else out[k] = v;
  }
  return out;
}

function fmt(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : "-";
}

export function table(rows: Row[]): string {
  const head = [
    "viewers",
    "conn",
    "fwd pkt/s",
    "srv CPU %",
    "µs/pkt",
    "sys µs",
    "limit µs",
    "ratio",
    "delivered",
    "p50 ms",
    "p99 ms",
    "KB/viewer",
    "KB marg.",
    "cli CPU %",
    "others %",
    "load",
  ];
  const body = rows.map((r) => [
    String(r.subscribers),
    String(r.connected),
    fmt(r.forwardedPps, 0),
    fmt(r.serverCpuPct, 1),
    fmt(r.serverCpuUsPerPacket, 2),
    fmt(r.serverSysUsPerPacket, 2),
    fmt(r.limitUsPerPacket, 2),
    fmt(r.ratio, 2),
    fmt(r.deliveredRatio, 4),
    fmt(r.p50LatencyMs, 2),
    fmt(r.p99LatencyMs, 2),
    fmt(r.rssPerSubscriberKb, 0),
    fmt(r.rssMarginalPerSubscriberKb, 0),
    fmt(r.clientCpuPct, 0),
    fmt(r.othersOnServerCorePct, 0),
    `${fmt(r.load[0], 1)}→${fmt(r.load[1], 1)}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? "").length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padStart(widths[i] ?? 0)).join(" | ")} |`;
  const sep = `|${widths.map((w) => `${"-".repeat(w + 1)}:`).join("|")}|`;
  return [line(head), sep, ...body.map(line)].join("\n");
}
