// The admin's captures pages: /captures lists them and starts one on a live room; /captures/{id} draws one as
// graphs on its timeline (growing while it runs) with a download. State lives in capturesModel.ts.
import type { CaptureFile, CaptureStarted, CaptureSummary } from "../../src/api.ts";
import { authHeaders, describeError, errorFrom, getJson, getToken, ApiError } from "../lib/api.ts";
import { fill, h } from "../lib/dom.ts";
import { bitrate, dateTime, percent } from "../lib/format.ts";
import { SERIES_COLOURS, TimelineGraph } from "../lib/graph.ts";
import { notice } from "../lib/ui.ts";
import type { PageContext } from "../main.ts";
import { captureView, describeCapture, LIVE_POLL_MS, shouldPoll, type Chart, type Unit } from "./capturesModel.ts";

const ADMIN_HINT = "Captures are for the admin: enter the admin token in the Token field.";

function needsAdmin(ctx: PageContext, status: HTMLElement, err: unknown, doing: string): void {
  if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
    fill(status, notice("warn", ADMIN_HINT));
    ctx.token.ask(ADMIN_HINT);
    return;
  }
  fill(status, notice("error", describeError(err, doing)));
}

async function send(method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(path, {
    method,
    headers: { Accept: "application/json", ...(body === undefined ? {} : { "Content-Type": "application/json" }), ...authHeaders() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw await errorFrom(res);
  return res.json();
}

/** A link cannot send the token: the file is fetched with it and handed to the browser as a download. */
async function download(id: string): Promise<void> {
  const res = await fetch(`/api/admin/captures/${encodeURIComponent(id)}?download=1`, { headers: authHeaders() });
  if (!res.ok) throw await errorFrom(res);
  const url = URL.createObjectURL(await res.blob());
  const a = h("a", { href: url, download: `capture-${id}.json` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function renderCaptures(ctx: PageContext): void {
  document.title = "Captures · roomcast";
  const status = h("div", { class: "captures-status", id: "captures-status" });
  const list = h("ul", { class: "records", id: "capture-list", attrs: { "aria-label": "Captures" } });
  const room = h("input", { id: "capture-room", name: "room", required: true, pattern: "[A-Za-z0-9_-]{1,64}", placeholder: "room", autocomplete: "off" });
  const seconds = h("input", { id: "capture-seconds", name: "maxSeconds", type: "number", min: "1", max: "3600", value: "600" });
  const form = h(
    "form",
    { class: "fields", id: "capture-form", attrs: { "aria-label": "Start a capture" } },
    h("div", { class: "field" }, h("label", { htmlFor: "capture-room", textContent: "Room" }), room),
    h("div", { class: "field" }, h("label", { htmlFor: "capture-seconds", textContent: "Longest (seconds)" }), seconds),
    h("div", { class: "controls" }, h("button", { type: "submit", class: "primary", textContent: "Start capture" })),
  );
  const refresh = h("button", { type: "button", class: "ghost small", textContent: "Refresh" });
  fill(
    ctx.main,
    h("h1", null, "Stats captures"),
    h("p", { class: "hint" }, "A capture samples one room every second (bitrate, frame rate, loss, round-trip time, viewers per layer) until it is stopped, the room closes or it reaches its length."),
    form,
    h("section", { class: "records-section" }, h("div", { class: "section-head" }, h("h2", null, "Captures"), refresh), status, list),
  );

  function row(c: CaptureSummary): HTMLLIElement {
    const actions = h("div", { class: "record-actions" });
    const open = h("a", { class: "button secondary small", href: `/captures/${encodeURIComponent(c.id)}`, textContent: "Graphs" });
    const get = h("button", { type: "button", class: "ghost small", textContent: "Download" });
    get.addEventListener("click", () => void download(c.id).catch((err: unknown) => needsAdmin(ctx, status, err, "download captures")));
    actions.append(open, get);
    if (c.state === "running") {
      const stop = h("button", { type: "button", class: "secondary small", textContent: "Stop" });
      stop.addEventListener("click", () => void act("POST", `/api/admin/captures/${encodeURIComponent(c.id)}/stop`, "stop captures"));
      actions.append(stop);
    }
    const del = h("button", { type: "button", class: "danger small", textContent: "Delete" });
    del.addEventListener("click", () => {
      if (confirm(`Delete the capture of ${c.room} from ${dateTime(c.startedAt)}?`)) void act("DELETE", `/api/admin/captures/${encodeURIComponent(c.id)}`, "delete captures");
    });
    actions.append(del);
    return h(
      "li",
      { class: "record", dataset: { id: c.id } },
      h("div", { class: "record-info" }, h("span", { class: "record-name" }, `${c.room} · ${dateTime(c.startedAt)}`), h("span", { class: "record-meta" }, describeCapture(c))),
      actions,
    );
  }

  async function act(method: string, path: string, doing: string): Promise<void> {
    try {
      await send(method, path);
      await load();
    } catch (err) {
      needsAdmin(ctx, status, err, doing);
    }
  }

  async function load(): Promise<void> {
    if (!getToken() && ctx.boot.authEnabled) {
      fill(status, notice("warn", ADMIN_HINT));
      return;
    }
    try {
      const captures = await getJson<CaptureSummary[]>("/api/admin/captures");
      fill(list, ...captures.map(row));
      fill(status, captures.length === 0 ? h("p", { class: "empty" }, "No captures yet.") : "");
    } catch (err) {
      needsAdmin(ctx, status, err, "see the captures");
    }
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void (async () => {
      try {
        const started = (await send("POST", "/api/admin/captures", { room: room.value.trim(), maxSeconds: Number(seconds.value) })) as CaptureStarted;
        location.assign(`/captures/${encodeURIComponent(started.id)}`);
      } catch (err) {
        needsAdmin(ctx, status, err, "start a capture");
      }
    })();
  });
  refresh.addEventListener("click", () => void load());
  void load();
}

const FORMATS: Record<Unit, { format: (v: number) => string; minMax: number }> = {
  bps: { format: bitrate, minMax: 100_000 },
  fps: { format: (v) => `${Math.round(v)} fps`, minMax: 30 },
  fraction: { format: percent, minMax: 0.05 },
  ms: { format: (v) => `${Math.round(v)} ms`, minMax: 50 },
  count: { format: (v) => String(Math.round(v)), minMax: 2 },
};

/** `rawId` as it is in the path (still URL-encoded). */
export function renderCapture(ctx: PageContext, rawId: string): void {
  let id = rawId;
  try {
    id = decodeURIComponent(rawId);
  } catch {
    // Left as it is: the server answers 404 for it.
  }
  document.title = "Capture · roomcast";
  const status = h("div", { class: "captures-status", id: "capture-status" });
  const meta = h("p", { class: "record-meta", id: "capture-meta" });
  const get = h("button", { type: "button", class: "secondary small", id: "capture-download", textContent: "Download JSON" });
  const stop = h("button", { type: "button", class: "secondary small", id: "capture-stop", textContent: "Stop", hidden: true });
  const charts = h("div", { class: "capture-charts", id: "capture-charts" });
  const events = h("ol", { class: "capture-events", id: "capture-events", attrs: { "aria-label": "Events" } });
  const title = h("h1", null, "Capture");
  fill(
    ctx.main,
    h("p", null, h("a", { href: "/captures" }, "All captures")),
    title,
    meta,
    h("div", { class: "controls" }, get, stop),
    status,
    charts,
    h("h2", null, "Events"),
    events,
  );
  const graphs = new Map<Chart["id"], { graph: TimelineGraph; legend: HTMLElement }>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let file: CaptureFile | undefined;

  function draw(f: CaptureFile): void {
    const view = captureView(f);
    title.textContent = `Capture of ${f.room}`;
    meta.textContent = `${dateTime(f.startedAt)} · ${describeCapture({ ...f, sampleCount: f.samples.length })}`;
    stop.hidden = !view.running;
    for (const chart of view.charts) {
      let g = graphs.get(chart.id);
      if (!g) {
        const { format, minMax } = FORMATS[chart.unit];
        const graph = new TimelineGraph(chart.title, format, minMax);
        graph.canvas.dataset.chart = chart.id;
        const legend = h("ul", { class: "legend" });
        charts.append(h("section", { class: "capture-chart" }, h("h3", null, chart.title), graph.canvas, legend));
        g = { graph, legend };
        graphs.set(chart.id, g);
      }
      g.graph.draw(view.times, view.span, chart.series, view.markers);
      fill(
        g.legend,
        ...chart.series.map((s, i) => {
          const swatch = h("span", { class: "swatch" });
          // Through the CSSOM: the CSP refuses style attributes.
          swatch.style.background = SERIES_COLOURS[i % SERIES_COLOURS.length] as string;
          return h("li", null, swatch, s.label);
        }),
      );
    }
    fill(events, ...view.markers.map((m) => h("li", null, `${m.t.toFixed(1)} s · ${m.label}`)));
  }

  async function load(): Promise<void> {
    clearTimeout(timer);
    try {
      file = await getJson<CaptureFile>(`/api/admin/captures/${encodeURIComponent(id)}`);
      draw(file);
      fill(status);
      if (shouldPoll(file)) timer = setTimeout(() => void load(), LIVE_POLL_MS);
    } catch (err) {
      needsAdmin(ctx, status, err, "see this capture");
      // Still running, most likely: try again (a new token, a server back up).
      timer = setTimeout(() => void load(), LIVE_POLL_MS * 2);
    }
  }
  get.addEventListener("click", () => void download(id).catch((err: unknown) => needsAdmin(ctx, status, err, "download captures")));
  stop.addEventListener("click", () => {
    void send("POST", `/api/admin/captures/${encodeURIComponent(id)}/stop`)
      .then(() => load())
      .catch((err: unknown) => needsAdmin(ctx, status, err, "stop captures"));
  });
  // Canvases are sized from the layout: a resize redraws them.
  addEventListener("resize", () => {
    if (file) draw(file);
  });
  void load();
}
