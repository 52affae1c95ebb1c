// Cheap WHEP viewers for the overload benchmark (bench/collapse.ts), in their own Bun process: each is a werift
// peer that does real ICE and DTLS with the server, but once connected its RTP never reaches werift. Each packet
// is counted from its clear RTP header (SSRC, sequence number) on arrival, and one in SAMPLE_EVERY is decrypted
// to read the publisher's send time from its probe. That costs a few µs per packet where libdatachannel costs
// 15-25, so one client core can receive what a server at its limit sends to twice its capacity's worth of
// viewers. STUN (consent) and RTCP still go to werift, so the server sees a live client.
//
// JSON lines on stdin / stdout, as the forwarding benchmark's client worker (commands below); exits when stdin
// closes. Run with bun.
import { createInterface } from "node:readline";
import { RTCPeerConnection, RTCRtpCodecParameters, useNACK, useOPUS, usePLI } from "werift";
import { replaceUdp4Transports } from "../../src/rtc/weriftMux.ts";
import { PROBE_OFFSET, rtpPayloadOffset } from "./rtp.ts";

export type LiteCommand =
  | {
      id: number;
      t: "viewers";
      url: string;
      room: string;
      count: number;
      concurrency: number;
      timeoutMs: number;
      /**
       * 0: every attempt counts, refused or not (knocking). Above 0: a refused attempt is retried after a pause,
       * as a client honouring Retry-After would, until nobody has been admitted for this many ms (filling).
       */
      fillUntilRefusedMs: number;
    }
  | { id: number; t: "windowStart" }
  | { id: number; t: "windowEnd" }
  | { id: number; t: "collect" }
  | { id: number; t: "stop" };

export interface LiteViewersResult {
  attempted: number;
  admitted: number;
  /** WHEP POSTs answered 503 (admission control). */
  refused: number;
  failed: number;
  errors: string[];
  retryAfter: string | undefined;
}

export interface LiteCollected {
  /** Per admitted viewer: packets of the window received / sent it (from RTP sequence numbers, both streams). */
  delivered: number[];
  expected: number;
  received: number;
  /** One-way latency of the sampled packets, ms, sorted. */
  latencyMs: number[];
  cpu: { user: number; system: number };
}

export type LiteReply =
  | { id: number; t: "ok" }
  | { id: number; t: "viewers"; result: LiteViewersResult }
  | { id: number; t: "collected"; collected: LiteCollected }
  | { id: number; t: "error"; message: string };

/** Decrypt one packet in this many to read its probe: enough samples for a p99, little CPU. */
const SAMPLE_EVERY = 128;
const MAX_ERRORS_KEPT = 5;

interface StreamCount {
  /** Highest extended sequence number seen. */
  highest: number;
  /** Window bounds as extended sequence numbers: packets in (from, to] count; to is Infinity while it runs. */
  from: number;
  to: number;
  received: number;
}

/** Whether a window is running: streams first seen during it count from their first packet. */
let windowOpen = false;

class LiteViewer {
  readonly streams = new Map<number, StreamCount>();
  /** The last stream looked up: packets alternate little between the two, so most lookups end here. */
  #lastSsrc = -1;
  #last: StreamCount | undefined;
  #n = 0;
  constructor(
    readonly pc: RTCPeerConnection,
    readonly latency: number[],
    readonly wallOffsetMs: () => number,
  ) {}

  /** Every RTP packet: counted by header; every SAMPLE_EVERY-th decrypted for its probe. */
  onRtp(data: Buffer, decrypt: (d: Buffer) => Buffer): void {
    const ssrc = ((data[8] as number) * 0x1000000 + (((data[9] as number) << 16) | ((data[10] as number) << 8) | (data[11] as number))) >>> 0;
    const seq = ((data[2] as number) << 8) | (data[3] as number);
    let s = ssrc === this.#lastSsrc ? this.#last : this.streams.get(ssrc);
    if (s === undefined) {
      const from = windowOpen ? seq - 1 : Number.POSITIVE_INFINITY;
      s = { highest: seq, from, to: Number.POSITIVE_INFINITY, received: 0 };
      this.streams.set(ssrc, s);
    }
    this.#lastSsrc = ssrc;
    this.#last = s;
    const last = s.highest & 0xffff;
    const delta = ((seq - last + 0x8000) & 0xffff) - 0x8000;
    const ext = s.highest + delta;
    if (ext > s.highest) s.highest = ext;
    if (ext > s.from && ext <= s.to) s.received++;
    if (++this.#n % SAMPLE_EVERY !== 0) return;
    try {
      const plain = decrypt(data);
      const at = rtpPayloadOffset(plain);
      const probe = at + PROBE_OFFSET;
      if (at < 0 || probe + 16 > plain.length) return;
      const sentEpochMs = plain.readDoubleBE(probe + 8) + this.wallOffsetMs();
      this.latency.push(performance.timeOrigin + performance.now() - sentEpochMs);
    } catch {
      // A packet werift cannot decrypt is counted above and not sampled.
    }
  }

  windowStart(): void {
    for (const s of this.streams.values()) {
      s.from = s.highest;
      s.to = Number.POSITIVE_INFINITY;
      s.received = 0;
    }
  }

  windowEnd(): void {
    for (const s of this.streams.values()) s.to = s.highest;
  }

  counts(): { expected: number; received: number } {
    let expected = 0;
    let received = 0;
    for (const s of this.streams.values()) {
      if (!Number.isFinite(s.from) || !Number.isFinite(s.to)) continue;
      expected += s.to - s.from;
      received += Math.min(s.received, s.to - s.from);
    }
    return { expected, received };
  }
}

/**
 * werift's UDP transport with a Bun socket under it: node:dgram under Bun costs ~10 µs per received packet, a Bun
 * socket's data callback a fraction of that. Same shape as werift's UdpTransport, as the server's mux transports.
 */
/** RTP (RFC 7983: first byte 128-191) that is not RTCP (RFC 5761: types 192-223). */
function isRtp(data: Buffer): boolean {
  const b0 = data[0] as number;
  const b1 = data[1] as number;
  return b0 >= 128 && b0 <= 191 && (b1 < 192 || b1 > 223) && data.length >= 12;
}

class BunUdpTransport {
  readonly type = "udp";
  readonly socketType = "udp4";
  readonly addressFamily = 4;
  closed = false;
  onData: (data: Buffer, addr: [string, number]) => void = () => undefined;
  /** Set once the viewer is connected: takes every RTP packet (not RTCP) before werift would. */
  onRtp: ((data: Buffer) => void) | undefined;
  rinfo: { address: string; port: number } | undefined;
  constructor(readonly socket: Bun.udp.Socket<"buffer">) {}
  static async open(): Promise<BunUdpTransport> {
    let transport: BunUdpTransport | undefined;
    const socket = await Bun.udpSocket({
      hostname: "0.0.0.0",
      port: 0,
      binaryType: "buffer",
      socket: {
        data(_s, data, port, address) {
          if (transport === undefined) return;
          // RTP goes straight to its counter: no objects made for it, and werift never sees it.
          const rtp = transport.onRtp;
          if (rtp !== undefined && isRtp(data)) {
            rtp(data);
            return;
          }
          if (transport.rinfo?.port !== port || transport.rinfo.address !== address) transport.rinfo = { address, port };
          transport.onData(data, [address, port]);
        },
        error() {
          // ICMP errors from a server session that ended: nothing to do for a benchmark client.
        },
      },
    });
    transport = new BunUdpTransport(socket);
    return transport;
  }
  get address() {
    return { address: "0.0.0.0", port: this.socket.port, family: "IPv4" };
  }
  get host() {
    return "0.0.0.0";
  }
  get port() {
    return this.socket.port;
  }
  send = (data: Buffer, addr?: [string, number]): Promise<void> => {
    const to: [string, number] | undefined = addr ?? (this.rinfo ? [this.rinfo.address, this.rinfo.port] : undefined);
    if (!this.closed && to) {
      try {
        this.socket.send(data, to[1], to[0]);
      } catch {
        // A pending ICMP error: the next packet goes.
      }
    }
    return Promise.resolve();
  };
  close = (): Promise<void> => {
    if (!this.closed) {
      this.closed = true;
      this.socket.close();
    }
    return Promise.resolve();
  };
}
replaceUdp4Transports(() => BunUdpTransport.open());

const viewers: LiteViewer[] = [];
const latency: number[] = [];
/** The publisher's clock: its probes carry performance.now() of its own process, this turns them into epoch ms. */
let publisherTimeOrigin = 0;

function newPeer(): RTCPeerConnection {
  return new RTCPeerConnection({
    codecs: {
      video: [new RTCRtpCodecParameters({ mimeType: "video/VP8", clockRate: 90000, rtcpFeedback: [useNACK(), usePLI()] })],
      audio: [useOPUS()],
    },
    iceServers: [],
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ["127.0.0.1"],
    bundlePolicy: "max-bundle",
  });
}

function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((res) => {
    const sub = pc.iceGatheringStateChange.subscribe((s) => {
      if (s === "complete") {
        sub.unSubscribe();
        res();
      }
    });
  });
}

function connected(pc: RTCPeerConnection, deadline: number): Promise<void> {
  if (pc.connectionState === "connected") return Promise.resolve();
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error("not connected in time")), Math.max(0, deadline - performance.now()));
    const sub = pc.connectionStateChange.subscribe((s) => {
      if (s === "connected") {
        clearTimeout(timer);
        sub.unSubscribe();
        res();
      } else if (s === "failed" || s === "closed") {
        clearTimeout(timer);
        sub.unSubscribe();
        rej(new Error(`connection ${s}`));
      }
    });
  });
}

/** The werift internals the interception needs. */
interface Internals {
  connection: { protocols: { transport?: { onData: (data: Buffer, addr: unknown) => void } }[] };
  srtp: { decrypt(d: Buffer): Buffer };
}

type Outcome = { kind: "admitted" } | { kind: "refused"; retryAfter: string | undefined } | { kind: "failed"; error: string };

async function connectViewer(url: string, room: string, deadline: number): Promise<Outcome> {
  const pc = newPeer();
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  try {
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const res = await fetch(`${url}/api/whep/play/${encodeURIComponent(room)}`, {
      method: "POST",
      body: pc.localDescription?.sdp ?? "",
      headers: { "Content-Type": "application/sdp" },
      signal: AbortSignal.timeout(Math.max(1, deadline - performance.now())),
    });
    const body = await res.text();
    if (res.status === 503) {
      await pc.close();
      return { kind: "refused", retryAfter: res.headers.get("retry-after") ?? undefined };
    }
    if (res.status !== 201) throw new Error(`WHEP ${res.status}: ${body.slice(0, 120)}`);
    await pc.setRemoteDescription({ type: "answer", sdp: body });
    await connected(pc, deadline);
    const ice = pc.iceTransports[0] as unknown as Internals | undefined;
    const dtls = pc.dtlsTransports[0] as unknown as Internals | undefined;
    const transports = (ice?.connection.protocols ?? []).map((p) => p.transport).filter((t) => t !== undefined);
    if (transports.length === 0 || !dtls?.srtp) throw new Error("no transport or SRTP session after connecting");
    const viewer = new LiteViewer(pc, latency, () => publisherTimeOrigin);
    const decrypt = (d: Buffer) => dtls.srtp.decrypt(d);
    // Every local transport: the server sends on the pair it nominated, which need not be the one this side did.
    for (const transport of transports) {
      if (transport instanceof BunUdpTransport) {
        transport.onRtp = (data) => viewer.onRtp(data, decrypt);
        continue;
      }
      const werift = transport.onData;
      transport.onData = (data, addr) => {
        if (isRtp(data)) viewer.onRtp(data, decrypt);
        else werift(data, addr);
      };
    }
    viewers.push(viewer);
    return { kind: "admitted" };
  } catch (err) {
    await pc.close().catch(() => undefined);
    return { kind: "failed", error: (err as Error).message };
  }
}

/**
 * Attempts `count` viewers, `concurrency` at a time. When filling, refused attempts are retried after a pause and
 * the fill ends once nobody has been admitted for fillUntilRefusedMs: that is how the benchmark finds what the
 * server admits.
 */
async function addViewers(cmd: Extract<LiteCommand, { t: "viewers" }>): Promise<LiteViewersResult> {
  const result: LiteViewersResult = { attempted: 0, admitted: 0, refused: 0, failed: 0, errors: [], retryAfter: undefined };
  const deadline = performance.now() + cmd.timeoutMs;
  const filling = cmd.fillUntilRefusedMs > 0;
  let lastAdmitted = performance.now();
  const lane = async () => {
    while ((filling ? result.admitted : result.attempted) < cmd.count && performance.now() < deadline) {
      if (filling && result.refused > 0 && performance.now() - lastAdmitted > cmd.fillUntilRefusedMs) return;
      result.attempted++;
      const outcome = await connectViewer(cmd.url, cmd.room, Math.min(deadline, performance.now() + 20_000));
      if (outcome.kind === "admitted") {
        result.admitted++;
        lastAdmitted = performance.now();
      } else if (outcome.kind === "refused") {
        result.refused++;
        result.retryAfter = outcome.retryAfter;
        if (filling) await new Promise((r) => setTimeout(r, 500));
      } else {
        result.failed++;
        if (result.errors.length < MAX_ERRORS_KEPT) result.errors.push(outcome.error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, cmd.concurrency) }, lane));
  return result;
}

function reply(line: LiteReply): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  let cmd: LiteCommand & { publisherTimeOrigin?: number };
  try {
    cmd = JSON.parse(line) as LiteCommand & { publisherTimeOrigin?: number };
  } catch {
    return;
  }
  if (typeof cmd.publisherTimeOrigin === "number") publisherTimeOrigin = cmd.publisherTimeOrigin;
  void (async () => {
    try {
      switch (cmd.t) {
        case "viewers":
          reply({ id: cmd.id, t: "viewers", result: await addViewers(cmd) });
          break;
        case "windowStart":
          windowOpen = true;
          latency.length = 0;
          for (const v of viewers) v.windowStart();
          reply({ id: cmd.id, t: "ok" });
          break;
        case "windowEnd":
          windowOpen = false;
          for (const v of viewers) v.windowEnd();
          reply({ id: cmd.id, t: "ok" });
          break;
        case "collect": {
          const per = viewers.map((v) => v.counts());
          const u = process.cpuUsage();
          reply({
            id: cmd.id,
            t: "collected",
            collected: {
              delivered: per.filter((c) => c.expected > 0).map((c) => c.received / c.expected),
              expected: per.reduce((a, c) => a + c.expected, 0),
              received: per.reduce((a, c) => a + c.received, 0),
              latencyMs: [...latency].sort((a, b) => a - b),
              cpu: { user: u.user, system: u.system },
            },
          });
          break;
        }
        case "stop":
          await Promise.all(viewers.map((v) => v.pc.close().catch(() => undefined)));
          reply({ id: cmd.id, t: "ok" });
          process.exit(0);
      }
    } catch (err) {
      reply({ id: cmd.id, t: "error", message: (err as Error).message });
    }
  })();
});
rl.on("close", () => process.exit(0));
