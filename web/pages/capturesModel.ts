// The captures pages' state, without the DOM: a capture's JSON turned into the charts the page draws (bitrate,
// frame rate, loss, RTT, viewers per layer) on one timeline with the capture's events marked, and when to poll a
// capture again (while it runs). The view (captures.ts) fetches, draws and links; this decides what to draw.
import type { CaptureEvent, CaptureFile, CaptureSample, CaptureSummary } from "../../src/api.ts";

/** A running capture is fetched again this often, so its graphs grow as it does. */
export const LIVE_POLL_MS = 2000;

export interface Series {
  label: string;
  /** One value per sample; null where the figure did not exist (a layer not there yet, no viewer reports). */
  values: (number | null)[];
}

export type Unit = "bps" | "fps" | "fraction" | "ms" | "count";

export interface Chart {
  id: "bitrate" | "fps" | "loss" | "rtt" | "viewers";
  title: string;
  unit: Unit;
  series: Series[];
}

export interface Marker {
  /** Seconds since the capture started. */
  t: number;
  label: string;
}

export interface CaptureView {
  /** Seconds since the start, per sample. */
  times: number[];
  /** The timeline's end in seconds: the capture's duration so far (or its maximum while it runs, for a steady axis). */
  span: number;
  charts: Chart[];
  markers: Marker[];
  running: boolean;
}

const EVENT_LABELS: Record<CaptureEvent["type"], string> = {
  "publisher.joined": "publisher joined",
  "publisher.left": "publisher left",
  "viewer.joined": "viewer joined",
  "viewer.left": "viewer left",
  "layer.switched": "layer switch",
  "transcoder.state": "transcoder",
};

export function markerLabel(e: CaptureEvent): string {
  const base = EVENT_LABELS[e.type] ?? e.type;
  if (e.type === "layer.switched") return `${base} ${e.from ?? "?"}→${e.to ?? "?"}`;
  if (e.type === "transcoder.state") return `${base} ${e.to ?? "off"}`;
  return base;
}

/** Every distinct key in the samples' order of first appearance, so a series keeps its colour. */
function keys(samples: readonly CaptureSample[], of: (s: CaptureSample) => string[]): string[] {
  const seen = new Set<string>();
  for (const s of samples) for (const k of of(s)) seen.add(k);
  return [...seen];
}

const trackLabel = (kind: string, codec: string) => `${kind} ${codec.replace(/^(audio|video)\//, "")}`;

export function captureView(file: CaptureFile): CaptureView {
  const samples = file.samples;
  const times = samples.map((s) => s.t / 1000);
  const running = file.state === "running";
  const last = times.at(-1) ?? 0;
  const span = Math.max(1, running ? Math.max(last, Math.min(file.maxSeconds, last + 60)) : last);

  const videoOf = (s: CaptureSample) => s.tracks.find((t) => t.kind === "video");
  const layerNames = keys(samples, (s) => videoOf(s)?.layers.map((l) => l.name) ?? []);
  const layered = layerNames.length > 1;
  const trackNames = keys(samples, (s) => s.tracks.map((t) => trackLabel(t.kind, t.codec)));
  const track = (s: CaptureSample, label: string) => s.tracks.find((t) => trackLabel(t.kind, t.codec) === label);
  const layer = (s: CaptureSample, name: string) => videoOf(s)?.layers.find((l) => l.name === name);

  const bitrate: Series[] = layered
    ? [
        ...layerNames.map((n) => ({ label: `layer ${n}`, values: samples.map((s) => layer(s, n)?.bitrate ?? null) })),
        ...trackNames.filter((n) => n.startsWith("audio")).map((n) => ({ label: n, values: samples.map((s) => track(s, n)?.bitrate ?? null) })),
      ]
    : trackNames.map((n) => ({ label: n, values: samples.map((s) => track(s, n)?.bitrate ?? null) }));
  const fps: Series[] = layered
    ? layerNames.map((n) => ({ label: `layer ${n}`, values: samples.map((s) => layer(s, n)?.frameRate ?? null) }))
    : trackNames.filter((n) => n.startsWith("video")).map((n) => ({ label: n, values: samples.map((s) => track(s, n)?.frameRate ?? null) }));
  const loss: Series[] = [
    ...trackNames.map((n) => ({ label: `publisher ${n}`, values: samples.map((s) => track(s, n)?.loss ?? null) })),
    { label: "viewers (mean)", values: samples.map((s) => s.viewerLoss?.mean ?? null) },
    { label: "viewers (worst)", values: samples.map((s) => s.viewerLoss?.max ?? null) },
  ];
  const rtt: Series[] = [
    { label: "mean", values: samples.map((s) => s.rttMs?.mean ?? null) },
    { label: "worst", values: samples.map((s) => s.rttMs?.max ?? null) },
  ];
  const viewers: Series[] = [
    { label: "all viewers", values: samples.map((s) => s.viewers) },
    ...(layered ? layerNames.map((n) => ({ label: `on ${n}`, values: samples.map((s) => layer(s, n)?.viewers ?? null) })) : []),
  ];
  return {
    times,
    span,
    running,
    charts: [
      { id: "bitrate", title: "Bitrate", unit: "bps", series: bitrate },
      { id: "fps", title: "Frame rate", unit: "fps", series: fps },
      { id: "loss", title: "Loss", unit: "fraction", series: loss },
      { id: "rtt", title: "Viewers' round-trip time", unit: "ms", series: rtt },
      { id: "viewers", title: "Viewers per layer", unit: "count", series: viewers },
    ],
    markers: file.events.map((e) => ({ t: e.t / 1000, label: markerLabel(e) })),
  };
}

/** Whether the page should fetch the capture again. */
export function shouldPoll(file: Pick<CaptureFile, "state">): boolean {
  return file.state === "running";
}

/** "running · 1 min 20 s of 10 min", "stopped (room closed) · 3 min". */
export function describeCapture(c: CaptureSummary): string {
  const length = duration(c.sampleCount);
  const reason = c.stopReason === null || c.stopReason === "stopped" ? "" : ` (${c.stopReason.replace("-", " ")})`;
  if (c.state === "running") return `running · ${length} of ${duration(c.maxSeconds)}`;
  return `${c.state}${reason} · ${length}`;
}

export function duration(sec: number): string {
  const s = Math.max(0, Math.round(sec));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return s % 60 === 0 ? `${m} min` : `${m} min ${s % 60} s`;
}
