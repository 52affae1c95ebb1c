// A small canvas graph of bitrate over the last minutes, one sample a second, drawn from a SampleHistory.
import { bitrate } from "./format.ts";
import { SampleHistory } from "./history.ts";

export class BitrateGraph {
  readonly canvas: HTMLCanvasElement;
  readonly history: SampleHistory;

  constructor(seconds = 180) {
    this.history = new SampleHistory(seconds);
    this.canvas = document.createElement("canvas");
    this.canvas.className = "graph";
    this.canvas.setAttribute("role", "img");
    this.canvas.setAttribute("aria-label", `Bitrate over the last ${Math.round(seconds / 60)} minutes`);
  }

  push(bps: number): void {
    this.history.push(bps);
    this.draw();
  }

  draw(): void {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(c.clientWidth * dpr));
    const hgt = Math.max(1, Math.round(c.clientHeight * dpr));
    // Hidden (stats overlay closed): nothing to draw, and no layout to size from.
    if (c.clientWidth === 0) return;
    if (c.width !== w || c.height !== hgt) {
      c.width = w;
      c.height = hgt;
    }
    const ctx = c.getContext("2d");
    if (!ctx) return;
    ctx.clearRect(0, 0, w, hgt);
    const samples = this.history.values;
    const capacity = this.history.capacity;
    const max = Math.max(250_000, this.history.max) * 1.15;
    const pad = 2 * dpr;
    const x = (i: number) => w - ((samples.length - 1 - i) / (capacity - 1)) * w;
    const y = (v: number) => hgt - pad - (v / max) * (hgt - 2 * pad);

    ctx.strokeStyle = "rgba(255,255,255,0.12)";
    ctx.lineWidth = 1;
    for (const f of [0.25, 0.5, 0.75]) {
      ctx.beginPath();
      ctx.moveTo(0, Math.round(hgt * f) + 0.5);
      ctx.lineTo(w, Math.round(hgt * f) + 0.5);
      ctx.stroke();
    }
    if (samples.length > 1) {
      ctx.beginPath();
      ctx.moveTo(x(0), hgt);
      samples.forEach((v, i) => ctx.lineTo(x(i), y(v)));
      ctx.lineTo(x(samples.length - 1), hgt);
      ctx.closePath();
      ctx.fillStyle = "rgba(77, 171, 255, 0.25)";
      ctx.fill();
      ctx.beginPath();
      samples.forEach((v, i) => (i === 0 ? ctx.moveTo(x(i), y(v)) : ctx.lineTo(x(i), y(v))));
      ctx.strokeStyle = "#4dabff";
      ctx.lineWidth = 1.5 * dpr;
      ctx.stroke();
    }
    ctx.fillStyle = "rgba(255,255,255,0.7)";
    ctx.font = `${10 * dpr}px system-ui, sans-serif`;
    ctx.textBaseline = "top";
    ctx.fillText(`max ${bitrate(max / 1.15)}`, pad * 2, pad);
  }
}

/** Line colours, in series order: distinct on the dark background, and the first is the bitrate graph's. */
export const SERIES_COLOURS = ["#4dabff", "#ffb74d", "#81c784", "#e57373", "#ba68c8", "#4dd0e1", "#fff176", "#a1887f"];

export interface TimelineSeries {
  label: string;
  values: readonly (number | null)[];
}

export interface TimelineMarker {
  t: number;
  label: string;
}

/**
 * Several figures over one capture's timeline (x: seconds from its start, up to `span`), with its events drawn as
 * vertical marks. `format` writes the axis' top value; `minMax` keeps a flat line of small values from filling
 * the height.
 */
export class TimelineGraph {
  readonly canvas: HTMLCanvasElement;
  readonly #format: (v: number) => string;
  readonly #minMax: number;

  constructor(title: string, format: (v: number) => string, minMax: number) {
    this.#format = format;
    this.#minMax = minMax;
    this.canvas = document.createElement("canvas");
    this.canvas.className = "graph timeline";
    this.canvas.setAttribute("role", "img");
    this.canvas.setAttribute("aria-label", title);
  }

  draw(times: readonly number[], span: number, series: readonly TimelineSeries[], markers: readonly TimelineMarker[]): void {
    const c = this.canvas;
    if (c.clientWidth === 0) return;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(c.clientWidth * dpr));
    const hgt = Math.max(1, Math.round(c.clientHeight * dpr));
    if (c.width !== w || c.height !== hgt) {
      c.width = w;
      c.height = hgt;
    }
    const ctx = c.getContext("2d");
    if (!ctx) return;
    ctx.clearRect(0, 0, w, hgt);
    let top = 0;
    for (const s of series) for (const v of s.values) if (v !== null && v > top) top = v;
    const max = Math.max(this.#minMax, top) * 1.15;
    const pad = 2 * dpr;
    const x = (t: number) => (Math.min(t, span) / span) * (w - 2 * pad) + pad;
    const y = (v: number) => hgt - pad - (v / max) * (hgt - 2 * pad);

    ctx.strokeStyle = "rgba(255,255,255,0.12)";
    ctx.lineWidth = 1;
    for (const f of [0.25, 0.5, 0.75]) {
      ctx.beginPath();
      ctx.moveTo(0, Math.round(hgt * f) + 0.5);
      ctx.lineTo(w, Math.round(hgt * f) + 0.5);
      ctx.stroke();
    }
    ctx.font = `${10 * dpr}px system-ui, sans-serif`;
    ctx.textBaseline = "top";
    ctx.setLineDash([3 * dpr, 3 * dpr]);
    ctx.strokeStyle = "rgba(255,255,255,0.35)";
    ctx.fillStyle = "rgba(255,255,255,0.55)";
    for (const m of markers) {
      const mx = Math.round(x(m.t)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(mx, 0);
      ctx.lineTo(mx, hgt);
      ctx.stroke();
    }
    ctx.setLineDash([]);
    series.forEach((s, i) => {
      ctx.strokeStyle = SERIES_COLOURS[i % SERIES_COLOURS.length] as string;
      ctx.lineWidth = 1.5 * dpr;
      ctx.beginPath();
      let drawing = false;
      s.values.forEach((v, j) => {
        const t = times[j];
        // A gap (null) breaks the line rather than drawing it down to zero.
        if (v === null || t === undefined) {
          drawing = false;
          return;
        }
        if (drawing) ctx.lineTo(x(t), y(v));
        else ctx.moveTo(x(t), y(v));
        drawing = true;
      });
      ctx.stroke();
    });
    ctx.fillStyle = "rgba(255,255,255,0.7)";
    ctx.fillText(`max ${this.#format(max / 1.15)}`, pad * 2, pad);
    // The timeline's end, bottom right: the capture's length so far.
    ctx.textAlign = "right";
    ctx.textBaseline = "bottom";
    ctx.fillText(`${Math.round(span)} s`, w - pad * 2, hgt - pad);
    ctx.textAlign = "left";
  }
}
