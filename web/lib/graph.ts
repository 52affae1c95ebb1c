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
