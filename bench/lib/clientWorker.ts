// The client side of the forwarding benchmark, in its own process: one publisher and N viewers, all libdatachannel
// (node-datachannel) peers over real ICE/DTLS/SRTP on loopback. libdatachannel does ICE, DTLS and SRTP in native
// threads; what runs here in JavaScript per received packet is one callback that reads 16 bytes of probe and
// bumps counters, so the client costs a fraction of the server it measures.
// Driven by bench/forward.ts through JSON lines on stdin/stdout (see protocol.ts); exits when stdin closes.
import { createInterface } from "node:readline";
import nodeDataChannel, { Audio, PeerConnection, RtcpReceivingSession, Video, type Track } from "node-datachannel";
import type { Collected, Command, CpuSample, Note, Reply, SentMark, ViewerCounts, ViewersResult } from "./protocol.ts";
import {
  AUDIO_PPS,
  AUDIO_PT,
  isRtcp,
  keyframeRequests,
  MAGIC_AUDIO,
  MAGIC_VIDEO,
  PROBE_BYTES,
  PROBE_OFFSET,
  rtpPayloadOffset,
  SyntheticStream,
  VIDEO_PPS,
  VIDEO_PT,
} from "./rtp.ts";

/** Latency histogram: 10 µs bins up to 500 ms; later packets are counted as overflow. */
const BIN_MS = 0.01;
const BINS = 50_000;
/** Per viewer and stream, the last counters seen, to count a duplicate once: 16k packets is over 60 s of video. */
const SEEN_RING = 1 << 14;
/** A publisher that fell behind its schedule catches up at most this many packets per timer tick. */
const MAX_BURST = 32;
const MAX_ERRORS_KEPT = 5;
/** One viewer's whole WHEP exchange, ICE and DTLS included; loopback takes well under a second when not loaded. */
const VIEWER_TIMEOUT_MS = 15_000;

function send(line: Reply | Note): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function note(message: string): void {
  send({ t: "note", message });
}

function cpu(): CpuSample {
  const u = process.cpuUsage();
  return { user: u.user, system: u.system };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function waitGathered(pc: PeerConnection, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (pc.gatheringState() === "complete") return resolve();
    const timer = setTimeout(() => reject(new Error(`ICE gathering not complete after ${timeoutMs} ms`)), timeoutMs);
    pc.onGatheringStateChange((state) => {
      if (state === "complete") {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

async function waitConnected(pc: PeerConnection, deadline: number): Promise<void> {
  // Polled, not evented: node-datachannel allows one state callback, and 25 ms is nothing next to a handshake.
  for (;;) {
    const s = pc.state();
    if (s === "connected") return;
    if (s === "failed" || s === "closed") throw new Error(`peer ${s}`);
    if (performance.now() > deadline) throw new Error(`peer still ${s} (ICE ${pc.iceState()}) at its deadline`);
    await sleep(25);
  }
}

/** The WHIP/WHEP exchange: one POST with the complete offer, the answer set, then ICE and DTLS to connected. */
async function negotiate(pc: PeerConnection, endpoint: string, deadline: number): Promise<void> {
  pc.setLocalDescription();
  await waitGathered(pc, Math.max(1, Math.min(5000, deadline - performance.now())));
  const controller = new AbortController();
  const abort = setTimeout(() => controller.abort(), Math.max(1, deadline - performance.now()));
  let res: Response;
  let body: string;
  try {
    res = await fetch(endpoint, {
      method: "POST",
      body: pc.localDescription()?.sdp ?? "",
      headers: { "Content-Type": "application/sdp" },
      signal: controller.signal,
    });
    body = await res.text();
  } finally {
    clearTimeout(abort);
  }
  if (res.status !== 201) throw new Error(`POST ${endpoint} answered ${res.status}: ${body.slice(0, 200)}`);
  pc.setRemoteDescription(body, "answer");
  await waitConnected(pc, deadline);
}

// ---- measurement state, shared by all viewers of this process ----

/** The window's counter ranges [lo, hi) per stream; nothing is counted until a window opens. */
let videoLo = Number.POSITIVE_INFINITY;
let videoHi = Number.POSITIVE_INFINITY;
let audioLo = Number.POSITIVE_INFINITY;
let audioHi = Number.POSITIVE_INFINITY;
const latency = new Uint32Array(BINS);
let latencyOverflow = 0;

interface Viewer {
  pc: PeerConnection;
  /**
   * Held for as long as the viewer lives: node-datachannel cancels the message callbacks of a Track whose
   * JavaScript object was garbage-collected, and the viewer would silently stop receiving.
   */
  tracks: Track[];
  counts: ViewerCounts;
  seenVideo: Uint32Array;
  seenAudio: Uint32Array;
}

const viewers: Viewer[] = [];
// BENCH_LDC_LOG=Warning (or Info, Debug, Verbose) passes libdatachannel's own log on as notes, for debugging.
if (process.env.BENCH_LDC_LOG) {
  nodeDataChannel.initLogger(process.env.BENCH_LDC_LOG as "Warning", (level, message) => note(`ldc ${level}: ${message}`));
}
const peers: PeerConnection[] = [];

function onViewerPacket(v: Viewer, msg: Buffer): void {
  if (msg.length < 12 || isRtcp(msg)) return;
  v.counts.total++;
  const payload = rtpPayloadOffset(msg);
  if (payload < 0) return;
  const probe = payload + PROBE_OFFSET;
  if (probe + PROBE_BYTES > msg.length) return;
  const magic = msg.readUInt32BE(probe);
  const counter = msg.readUInt32BE(probe + 4);
  if (magic === MAGIC_VIDEO) {
    if (counter < videoLo || counter >= videoHi) return;
    const slot = counter & (SEEN_RING - 1);
    if (v.seenVideo[slot] === counter + 1) return;
    v.seenVideo[slot] = counter + 1;
    v.counts.video++;
  } else if (magic === MAGIC_AUDIO) {
    if (counter < audioLo || counter >= audioHi) return;
    const slot = counter & (SEEN_RING - 1);
    if (v.seenAudio[slot] === counter + 1) return;
    v.seenAudio[slot] = counter + 1;
    v.counts.audio++;
  } else {
    return;
  }
  // Publisher and viewers share this process, so both ends of the latency read the same clock.
  const ms = performance.now() - msg.readDoubleBE(probe + 8);
  const bin = Math.floor(ms / BIN_MS);
  if (bin >= BINS) latencyOverflow++;
  else latency[bin < 0 ? 0 : bin] = (latency[bin < 0 ? 0 : bin] ?? 0) + 1;
}

async function connectViewer(url: string, room: string, deadline: number): Promise<Viewer> {
  const pc = new PeerConnection("bench-viewer", { iceServers: [], bindAddress: "127.0.0.1" });
  peers.push(pc);
  const v: Viewer = {
    pc,
    tracks: [],
    counts: { video: 0, audio: 0, total: 0 },
    seenVideo: new Uint32Array(SEEN_RING),
    seenAudio: new Uint32Array(SEEN_RING),
  };
  const video = new Video("0", "RecvOnly");
  video.addVP8Codec(VIDEO_PT);
  const audio = new Audio("1", "RecvOnly");
  audio.addOpusCodec(AUDIO_PT);
  v.tracks = [pc.addTrack(video), pc.addTrack(audio)];
  for (const track of v.tracks) {
    // Receiver reports, as a real viewer sends them; the server reads them for its per-viewer stats.
    track.setMediaHandler(new RtcpReceivingSession());
    track.onMessage((msg) => onViewerPacket(v, msg));
  }
  try {
    await negotiate(pc, `${url}/api/whep/play/${encodeURIComponent(room)}`, deadline);
  } catch (err) {
    pc.close();
    throw err;
  }
  viewers.push(v);
  return v;
}

// ---- the publisher ----

const videoStream = new SyntheticStream("video");
const audioStream = new SyntheticStream("audio");
let pacer: ReturnType<typeof setInterval> | undefined;
let publisherPc: PeerConnection | undefined;
let pacingLateMaxMs = 0;
let sendFailures = 0;

async function publish(url: string, room: string, timeoutMs: number): Promise<number> {
  const started = performance.now();
  const pc = new PeerConnection("bench-publisher", { iceServers: [], bindAddress: "127.0.0.1" });
  peers.push(pc);
  publisherPc = pc;
  const video = new Video("0", "SendOnly");
  video.addVP8Codec(VIDEO_PT);
  video.addSSRC(videoStream.ssrc, "bench", "bench-stream", "bench-video");
  const audio = new Audio("1", "SendOnly");
  audio.addOpusCodec(AUDIO_PT);
  audio.addSSRC(audioStream.ssrc, "bench", "bench-stream", "bench-audio");
  const videoTrack = pc.addTrack(video);
  const audioTrack = pc.addTrack(audio);
  // Raw RTP goes out as built (no packetizer); what comes back is RTCP: answer keyframe requests like an encoder.
  videoTrack.onMessage((msg) => {
    if (isRtcp(msg) && keyframeRequests(msg) > 0) videoStream.requestKeyframe();
  });
  audioTrack.onMessage(() => undefined);
  await negotiate(pc, `${url}/api/whip/publish/${encodeURIComponent(room)}`, started + timeoutMs);

  // Evenly paced on one clock: every packet due goes out at the next 1 ms tick, late ones catch up in bounded
  // bursts, and how late the worst one was is reported (a saturated client shows there first).
  const t0 = performance.now();
  const sendDue = (stream: SyntheticStream, track: Track, pps: number, now: number) => {
    const due = Math.floor(((now - t0) * pps) / 1000) + 1;
    for (let burst = 0; stream.counter < due && burst < MAX_BURST; burst++) {
      const late = now - t0 - (stream.counter * 1000) / pps;
      if (late > pacingLateMaxMs) pacingLateMaxMs = late;
      try {
        if (!track.sendMessageBinary(stream.next(now))) sendFailures++;
      } catch {
        sendFailures++;
      }
    }
  };
  pacer = setInterval(() => {
    const now = performance.now();
    sendDue(videoStream, videoTrack, VIDEO_PPS, now);
    sendDue(audioStream, audioTrack, AUDIO_PPS, now);
  }, 1);
  return performance.now() - started;
}

async function addViewers(url: string, room: string, count: number, concurrency: number, timeoutMs: number): Promise<ViewersResult> {
  const deadline = performance.now() + timeoutMs;
  const result: ViewersResult = { connected: 0, failed: 0, errors: [], connectMs: [] };
  let attempts = 0;
  let inFlight = 0;
  let lastNote = performance.now();
  // A viewer whose handshake stalls is given up after VIEWER_TIMEOUT_MS and replaced, a bounded number of times,
  // so one stuck handshake does not hold its lane until the deadline.
  const maxAttempts = Math.ceil(count * 1.5);
  const lane = async () => {
    while (result.connected + inFlight < count && attempts < maxAttempts && performance.now() < deadline) {
      attempts++;
      inFlight++;
      const started = performance.now();
      try {
        await connectViewer(url, room, Math.min(deadline, started + VIEWER_TIMEOUT_MS));
        result.connected++;
        result.connectMs.push(performance.now() - started);
      } catch (err) {
        result.failed++;
        if (result.errors.length < MAX_ERRORS_KEPT) result.errors.push((err as Error).message);
      } finally {
        inFlight--;
      }
      if (performance.now() - lastNote > 5000) {
        lastNote = performance.now();
        note(`viewers: ${result.connected} connected of ${count}, ${result.failed} attempts failed`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, lane));
  return result;
}

function mark(): SentMark {
  return {
    video: videoStream.counter,
    audio: audioStream.counter,
    cpu: cpu(),
    at: performance.now(),
    publisherState: publisherPc?.state() ?? "none",
  };
}

function collect(): Collected {
  const latencyBins: [number, number][] = [];
  for (let i = 0; i < BINS; i++) {
    const n = latency[i] ?? 0;
    if (n > 0) latencyBins.push([i, n]);
  }
  return {
    viewers: viewers.map((v) => ({ ...v.counts })),
    latencyBins,
    latencyBinMs: BIN_MS,
    latencyOverflow,
    pacingLateMaxMs,
    sendFailures,
  };
}

let stopping = false;
function stop(code: number): void {
  if (stopping) return;
  stopping = true;
  if (pacer) clearInterval(pacer);
  for (const pc of peers) {
    try {
      pc.close();
    } catch {
      // Already closed: nothing to free.
    }
  }
  // Give the DTLS close alerts a moment to leave, then exit without nodeDataChannel.cleanup(): under Bun 1.4.5
  // it crashed the process on the way out, and exiting frees libdatachannel's threads anyway.
  setTimeout(() => process.exit(code), 200);
}

async function handle(cmd: Command): Promise<Reply> {
  switch (cmd.t) {
    case "publish":
      return { id: cmd.id, t: "published", ms: await publish(cmd.url, cmd.room, cmd.timeoutMs), timeOrigin: performance.timeOrigin };
    case "viewers":
      return { id: cmd.id, t: "viewers", result: await addViewers(cmd.url, cmd.room, cmd.count, cmd.concurrency, cmd.timeoutMs) };
    case "windowStart": {
      const m = mark();
      videoLo = m.video;
      audioLo = m.audio;
      videoHi = Number.POSITIVE_INFINITY;
      audioHi = Number.POSITIVE_INFINITY;
      latency.fill(0);
      latencyOverflow = 0;
      pacingLateMaxMs = 0;
      for (const v of viewers) {
        v.counts.video = 0;
        v.counts.audio = 0;
      }
      return { id: cmd.id, t: "mark", mark: m };
    }
    case "windowEnd": {
      const m = mark();
      videoHi = m.video;
      audioHi = m.audio;
      return { id: cmd.id, t: "mark", mark: m };
    }
    case "collect":
      return { id: cmd.id, t: "collected", collected: collect() };
    case "stop":
      setTimeout(() => stop(0), 0);
      return { id: cmd.id, t: "ok" };
  }
}

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  let cmd: Command;
  try {
    cmd = JSON.parse(line) as Command;
  } catch {
    note(`ignored a line that is not JSON: ${line.slice(0, 80)}`);
    return;
  }
  handle(cmd).then(send, (err: unknown) => send({ id: cmd.id, t: "error", message: (err as Error).message ?? String(err) }));
});
// The benchmark gone (closed pipe, killed) means nobody reads our results: free the peers and leave.
rl.on("close", () => stop(0));
process.on("SIGTERM", () => stop(0));
process.on("SIGINT", () => stop(0));
note(`client worker ready (pid ${process.pid}, ${typeof Bun === "undefined" ? `node ${process.version}` : `bun ${Bun.version}`})`);
