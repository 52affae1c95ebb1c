// GStreamer's webrtcbin as a WHIP publisher (gst_whip_publish.py, run by Debian's python3-gi): the offer exactly as
// GStreamer makes it for the chosen bundle policy, trickled candidates by PATCH, test video (VP8 or x264 H264) and
// an Opus tone. The script reports JSON lines, which this helper collects.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

/** Debian's interpreter: python3-gi is installed for it, not for a pyenv python3 earlier on PATH. */
export const GST_PYTHON = process.env.GST_PYTHON ?? "/usr/bin/python3";
const SCRIPT = join(import.meta.dirname, "gst_whip_publish.py");

export type BundlePolicy = "none" | "balanced" | "max-compat" | "max-bundle";

export interface GstPublishOptions {
  video?: "vp8" | "h264";
  /** x264's profile; rtph264pay writes the profile-level-id GStreamer offers from its SPS (42c01e, 640c1e…). */
  h264Profile?: "constrained-baseline" | "baseline" | "main" | "high";
  /** webrtcbin's default is none; whipsink sets max-bundle. */
  bundlePolicy?: BundlePolicy;
  audio?: boolean;
  width?: number;
  height?: number;
  fps?: number;
  token?: string;
  connectTimeoutMs?: number;
}

export interface GstEvent {
  event: string;
  [key: string]: unknown;
}

export interface GstPublisher {
  proc: ChildProcess;
  offer: string;
  answer: string;
  location: string;
  events: GstEvent[];
  /** Statuses of the trickle PATCHes so far. */
  patchStatuses(): number[];
  close(): Promise<void>;
}

let checked: string | undefined | null = null;

/**
 * Why GStreamer cannot publish here, or undefined. Tests call assertGstreamer() and fail with this text: a machine
 * without GStreamer must not pass the interop tests by skipping them.
 */
export function gstreamerMissing(): string | undefined {
  if (checked !== null) return checked;
  if (!existsSync(GST_PYTHON)) return (checked = `${GST_PYTHON} not found (install python3-gi, or set GST_PYTHON)`);
  const elements = ["webrtcbin", "nicesrc", "vp8enc", "x264enc", "opusenc", "rtpvp8pay", "rtph264pay", "rtpopuspay"];
  const probe = spawnSync(
    GST_PYTHON,
    [
      "-c",
      "import sys, gi; gi.require_version('Gst', '1.0'); gi.require_version('GstWebRTC', '1.0'); gi.require_version('GstSdp', '1.0');" +
        "from gi.repository import Gst, GstWebRTC, GstSdp; Gst.init(None);" +
        `m = [e for e in ${JSON.stringify(elements)} if Gst.ElementFactory.find(e) is None]; print(','.join(m))`,
    ],
    { encoding: "utf8", timeout: 20_000 },
  );
  if (probe.status !== 0) {
    return (checked = `GStreamer's Python bindings do not load with ${GST_PYTHON} (python3-gi, gir1.2-gst-plugins-bad-1.0): ${probe.stderr.trim().split("\n").pop() ?? ""}`);
  }
  const missing = probe.stdout.trim();
  checked = missing === "" ? undefined : `GStreamer elements missing: ${missing} (gstreamer1.0-plugins-bad/good/ugly, gstreamer1.0-nice)`;
  return checked;
}

export function assertGstreamer(): void {
  const why = gstreamerMissing();
  if (why !== undefined) throw new Error(`GStreamer interop tests need GStreamer: ${why}`);
}

/** Starts the publisher and resolves once webrtcbin says "connected" (its DTLS is up). */
export async function gstPublish(baseUrl: string, room: string, opts: GstPublishOptions = {}): Promise<GstPublisher> {
  assertGstreamer();
  const args = [
    SCRIPT,
    "--url",
    `${baseUrl}/api/whip/publish/${encodeURIComponent(room)}`,
    "--video",
    opts.video ?? "vp8",
    "--bundle-policy",
    opts.bundlePolicy ?? "none",
    "--width",
    String(opts.width ?? 640),
    "--height",
    String(opts.height ?? 360),
    "--fps",
    String(opts.fps ?? 30),
  ];
  if (opts.h264Profile) args.push("--h264-profile", opts.h264Profile);
  if (opts.audio === false) args.push("--no-audio");
  if (opts.token) args.push("--token", opts.token);
  const proc = spawn(GST_PYTHON, args, { stdio: ["ignore", "pipe", "pipe"] });
  const events: GstEvent[] = [];
  const stderr: string[] = [];
  const waiters: { test: (e: GstEvent) => boolean; resolve: (e: GstEvent) => void }[] = [];
  let partial = "";
  proc.stdout?.on("data", (buf: Buffer) => {
    partial += buf.toString("utf8");
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      if (line.trim() === "") continue;
      let e: GstEvent;
      try {
        e = JSON.parse(line) as GstEvent;
      } catch {
        stderr.push(line);
        continue;
      }
      events.push(e);
      for (const w of [...waiters]) {
        if (!w.test(e)) continue;
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(e);
      }
    }
  });
  proc.stderr?.on("data", (buf: Buffer) => stderr.push(...buf.toString("utf8").split("\n").filter((l) => l !== "")));
  const exited = new Promise<number | null>((res) => proc.on("exit", (code) => res(code)));
  const describe = () =>
    `events: ${JSON.stringify(events.map((e) => ({ ...e, sdp: undefined }))).slice(0, 2000)}; stderr: ${stderr.slice(-10).join(" | ")}`;
  const wait = (test: (e: GstEvent) => boolean, what: string, timeoutMs: number) =>
    new Promise<GstEvent>((resolve, reject) => {
      const found = events.find(test);
      if (found) return resolve(found);
      const timer = setTimeout(() => reject(new Error(`GStreamer publisher: no ${what} in ${timeoutMs} ms; ${describe()}`)), timeoutMs);
      waiters.push({
        test,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`GStreamer publisher exited (${code}) before ${what}; ${describe()}`));
      });
    });
  const close = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  };
  try {
    const timeoutMs = opts.connectTimeoutMs ?? 20_000;
    const offer = await wait((e) => e.event === "offer" || e.event === "error", "offer", timeoutMs);
    if (offer.event === "error") throw new Error(`GStreamer publisher: ${String(offer.message)}`);
    const answer = await wait((e) => e.event === "answer", "answer", timeoutMs);
    if (answer.status !== 201) throw new Error(`WHIP POST answered ${String(answer.status)}: ${String(answer.sdp)}`);
    const state = await wait(
      (e) => e.event === "error" || (e.event === "state" && (e.state === "connected" || e.state === "failed")),
      "connected state",
      timeoutMs,
    );
    if (state.event === "error" || state.state !== "connected") throw new Error(`GStreamer publisher did not connect; ${describe()}`);
    return {
      proc,
      offer: String(offer.sdp),
      answer: String(answer.sdp),
      location: String(answer.location),
      events,
      patchStatuses: () => events.filter((e) => e.event === "patch").map((e) => Number(e.status)),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
