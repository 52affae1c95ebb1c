// docs/grafana/roomcast.json against a live /metrics: the binary with recording, a transcoding ladder and a webhook
// receiver, a werift publisher sending real VP8 and a viewer, so per-room series exist. Every metric any panel (or
// template variable) queries must parse as PromQL and be one the server exports.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parser as promql } from "@prometheus-io/lezer-promql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHttpReceiver, type HttpReceiver } from "./helpers/httpReceiver.ts";
import { sendRealMedia } from "./helpers/realMedia.ts";
import { ROOT, startServer, waitFor, type ServerHandle } from "./helpers/server.ts";
import { play, publish, type WeriftPublisher, type WeriftViewer } from "./helpers/weriftPeers.ts";

const DASHBOARD = join(ROOT, "docs/grafana/roomcast.json");
const ROOM = "graphed";

/** Grafana's own interval variables stand where PromQL wants a duration; any duration parses the same. */
function withoutGrafanaIntervals(expr: string): string {
  return expr.replace(/\$\{?__(rate_interval|interval|range)(_ms|_s)?\}?/g, "1m");
}

/**
 * The metric names a PromQL expression reads, from Prometheus's own grammar (the one Grafana's editor uses): the
 * identifier of each vector selector. Functions, aggregations, keywords, label names and numbers are other nodes,
 * so nothing else can pass for a metric. Throws on a syntax error, naming where it is.
 */
export function metricNames(expr: string): string[] {
  const text = withoutGrafanaIntervals(expr);
  const names = new Set<string>();
  const cursor = promql.parse(text).cursor();
  do {
    if (cursor.type.isError) throw new Error(`PromQL syntax error at ${cursor.from} in: ${expr}`);
    if (cursor.type.name === "Identifier" && cursor.node.parent?.type.name === "VectorSelector") names.add(text.slice(cursor.from, cursor.to));
  } while (cursor.next());
  return [...names];
}

interface Target {
  expr?: string;
  datasource?: { uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
}
interface Dashboard {
  __inputs: { name: string; type: string; pluginId: string }[];
  panels: Panel[];
  templating: { list: { name: string; type: string; query: string | { query: string } }[] };
}

/** Every query of the dashboard, with where it is, for the failure message. */
function queries(d: Dashboard): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  for (const p of d.panels) for (const t of p.targets ?? []) if (t.expr) out.push({ where: `panel "${p.title}"`, expr: t.expr });
  for (const v of d.templating.list) {
    if (v.type !== "query") continue;
    const q = typeof v.query === "string" ? v.query : v.query.query;
    // label_values(selector, label) reads the selector's metric; label_values(label) reads none.
    const m = /^\s*label_values\((.*),\s*[A-Za-z_]\w*\s*\)\s*$/.exec(q);
    out.push({ where: `variable $${v.name}`, expr: m ? (m[1] as string) : q.replace(/^\s*\w+\(/, "(") });
  }
  return out;
}

/** Names /metrics declares (# TYPE), with a histogram's or summary's _bucket/_sum/_count series. */
function exported(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\w+)$/gm)) {
    const [, name, type] = m as unknown as [string, string, string];
    names.add(name);
    if (type === "histogram" || type === "summary") for (const s of ["_bucket", "_sum", "_count"]) names.add(name + s);
  }
  return names;
}

/** "panel X: metric" for every queried metric the server does not export. */
function missingMetrics(d: Dashboard, metrics: Set<string>): string[] {
  const missing: string[] = [];
  for (const q of queries(d)) {
    for (const name of metricNames(q.expr)) {
      const base = name.replace(/_(bucket|sum|count)$/, "");
      if (!metrics.has(name) && !metrics.has(base)) missing.push(`${q.where}: ${name}`);
    }
  }
  return missing;
}

describe("the PromQL name extraction", () => {
  it("finds metric names and nothing else", () => {
    expect(metricNames('sum by (room) (rate(live_rtp_bytes_total{instance=~"$instance", room=~"a|b"}[$__rate_interval])) * 8')).toEqual(["live_rtp_bytes_total"]);
    expect(metricNames('histogram_quantile(0.95, sum by (le) (rate(x_seconds_bucket{le!="+Inf"}[5m])))')).toEqual(["x_seconds_bucket"]);
    expect(metricNames("a / on(instance) group_left(version) b offset 5m > bool 1e3")).toEqual(["a", "b"]);
    expect(metricNames('max without (pod) (up{job="roomcast"}) or vector(0)')).toEqual(["up"]);
    expect(metricNames('count(label_replace(y, "dst", "$1", "src", "(.*)"))')).toEqual(["y"]);
    expect(metricNames('{__name__="z"}')).toEqual([]);
  });

  it("refuses an expression that does not parse", () => {
    expect(() => metricNames("sum(rate(x[5m])")).toThrow(/syntax error/);
    expect(() => metricNames("rate(x{a=}[5m])")).toThrow(/syntax error/);
  });
});

describe("docs/grafana/roomcast.json", () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as Dashboard;
  let server: ServerHandle;
  let receiver: HttpReceiver;
  let pub: WeriftPublisher;
  let viewer: WeriftViewer;
  let sending: Promise<unknown>;
  let metrics = "";

  beforeAll(async () => {
    receiver = await startHttpReceiver();
    server = await startServer({ RECORD_ENABLED: "true", RECORD_DIR: "rec", TRANSCODE_LADDER: "180p:200k", WEBHOOK_URLS: receiver.url });
    pub = await publish(server.url, ROOM);
    sending = sendRealMedia(pub, { video: "vp8", seconds: 5 });
    viewer = await play(server.url, ROOM);
    // Per-room series of the room, its viewers and its ladder; the ladder's once ffmpeg sends its rendition.
    metrics = await waitFor(
      async () => {
        const text = await (await fetch(`${server.url}/metrics`)).text();
        const room = `room="${ROOM}"`;
        const ready = [
          `live_subscribers{${room}} 1`,
          `roomcast_room_ingest_bitrate_bps{${room}}`,
          `roomcast_room_viewer_loss_ratio{${room}}`,
          `roomcast_transcode_rendition_fps{${room},rendition="180p"}`,
          `roomcast_transcode_speed{${room}}`,
          `roomcast_webhook_events_total{receiver="env1",result="sent"}`,
        ].every((s) => text.includes(s));
        return ready && /^roomcast_recordings_active [1-9]/m.test(text) ? text : undefined;
      },
      30_000,
      "per-room, recording, transcoding and webhook series in /metrics",
    );
  });

  afterAll(async () => {
    await sending?.catch(() => undefined);
    await viewer?.close();
    await pub?.close();
    await server?.stop();
    await receiver?.close();
  });

  it("is importable as is: a ${DS_PROMETHEUS} input, every panel on it, unique ids, a 24-column grid, an instance variable", () => {
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: "DS_PROMETHEUS", type: "datasource", pluginId: "prometheus" })]);
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      if (p.type === "row") continue;
      expect(p.datasource, p.title).toEqual({ type: "prometheus", uid: "${DS_PROMETHEUS}" });
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(t.datasource?.uid, p.title).toBe("${DS_PROMETHEUS}");
    }
    expect(dashboard.templating.list.map((v) => v.name)).toContain("instance");
    // Every panel filters on the instance variable, so one dashboard serves many servers.
    for (const q of queries(dashboard)) if (q.where.startsWith("panel")) expect(q.expr, q.where).toContain('instance=~"$instance"');
  });

  it("has the rows the issue asks for", () => {
    const rows = dashboard.panels.filter((p) => p.type === "row").map((p) => p.title);
    expect(rows).toEqual(["Overview", "Rooms and viewers", "Media", "Viewer quality", "CPU and load", "Refusals", "Recordings", "Transcoding", "Webhooks"]);
    const all = queries(dashboard).flatMap((q) => metricNames(q.expr));
    for (const name of ["live_rooms", "live_subscribers", "roomcast_room_ingest_bitrate_bps", "roomcast_room_viewer_loss_ratio", "roomcast_room_viewer_rtt_seconds", "process_cpu_seconds_total", "roomcast_process_cpu_ratio", "roomcast_admission_rejected_total", "roomcast_rate_limited_total", "roomcast_auth_failures_total", "roomcast_recordings_active", "roomcast_record_bytes_total", "roomcast_record_errors_total", "roomcast_transcode_processes", "roomcast_transcode_restarts_total", "roomcast_transcode_rendition_fps", "roomcast_transcode_speed", "roomcast_webhook_events_total"]) {
      expect(all, name).toContain(name);
    }
  });

  it("queries only metrics the server exports", () => {
    const names = exported(metrics);
    expect(queries(dashboard).length).toBeGreaterThan(40);
    expect(missingMetrics(dashboard, names)).toEqual([]);
  });

  it("would name a metric the server does not export", () => {
    const bogus = structuredClone(dashboard);
    bogus.panels.push({ id: 9999, type: "timeseries", title: "Bogus", gridPos: { x: 0, y: 99, w: 8, h: 8 }, targets: [{ expr: 'rate(roomcast_made_up_total{instance=~"$instance"}[5m]) / live_rooms' }] });
    expect(missingMetrics(bogus, exported(metrics))).toEqual(['panel "Bogus": roomcast_made_up_total']);
  });
});
