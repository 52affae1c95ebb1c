// The loopback UDP between roomcast and its ffmpeg: the publisher's packets out to ffmpeg's input port, and one
// socket per rendition taking ffmpeg's RTP back in. node:dgram runs unchanged under Bun. Every rendition is made one
// continuous RTP stream (its own SSRC, sequence numbers and timestamps that carry on across ffmpeg restarts), so
// viewers' decoders and werift's per-viewer rewriting never see the jump a new ffmpeg process makes.
import dgram from "node:dgram";
import { RtpPacket } from "werift";

const LOOPBACK = "127.0.0.1";
const CLOCK_KHZ = 90;

/** RTCP (sender reports ffmpeg sends to the same port), told apart as RFC 5761 does: PT 64..95 with the marker. */
export function isRtcpPacket(buf: Uint8Array): boolean {
  const b1 = buf[1];
  if (buf.length < 2 || b1 === undefined) return false;
  const pt = b1 & 0x7f;
  return pt >= 64 && pt <= 95;
}

/**
 * Maps the RTP of successive ffmpeg processes onto one stream. A new source (a restart) continues right after the
 * last packet sent: the next sequence number, and a timestamp advanced by the wall-clock gap. Pure but for `now`.
 */
export class RtpContinuity {
  readonly ssrc: number;
  #sourceSsrc: number | undefined;
  #newSource = true;
  #seqOffset = 0;
  #tsOffset = 0;
  #lastSeq: number | undefined;
  #lastTs = 0;
  #lastAt = 0;

  constructor(ssrc: number) {
    this.ssrc = ssrc >>> 0;
  }

  /** The next packet starts a new source (a new ffmpeg process is starting). */
  newSource(): void {
    this.#newSource = true;
  }

  /** Rewrites the header in place. */
  map(header: { ssrc: number; sequenceNumber: number; timestamp: number }, nowMs: number): void {
    if (this.#newSource || header.ssrc !== this.#sourceSsrc) {
      this.#newSource = false;
      this.#sourceSsrc = header.ssrc;
      if (this.#lastSeq === undefined) {
        this.#seqOffset = 0;
        this.#tsOffset = 0;
      } else {
        this.#seqOffset = (this.#lastSeq + 1 - header.sequenceNumber) & 0xffff;
        const gap = Math.max(1, Math.round((nowMs - this.#lastAt) * CLOCK_KHZ));
        this.#tsOffset = (this.#lastTs + gap - header.timestamp) >>> 0;
      }
    }
    const seq = (header.sequenceNumber + this.#seqOffset) & 0xffff;
    const ts = (header.timestamp + this.#tsOffset) >>> 0;
    // Only forward progress moves the reference: a reordered older packet must not pull it back.
    if (this.#lastSeq === undefined || ((seq - this.#lastSeq) & 0xffff) < 0x8000) {
      this.#lastSeq = seq;
      this.#lastTs = ts;
      this.#lastAt = nowMs;
    }
    header.ssrc = this.ssrc;
    header.sequenceNumber = seq;
    header.timestamp = ts;
  }
}

function bind(socket: dgram.Socket, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    socket.once("error", onError);
    socket.bind({ port, address: LOOPBACK, exclusive: true }, () => {
      socket.off("error", onError);
      resolve();
    });
  });
}

async function closeQuietly(socket: dgram.Socket): Promise<void> {
  await new Promise<void>((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve();
    }
  });
}

/**
 * An even loopback port whose next port is free too, for ffmpeg's RTP input (it binds RTP on the port, RTCP on the
 * next). Both are let go before ffmpeg binds them; a port taken in between makes ffmpeg fail to start, and the
 * supervisor starts it again on another pair.
 */
export async function freeUdpPortPair(attempts = 20): Promise<number> {
  for (let i = 0; i < attempts; i++) {
    const probe = dgram.createSocket("udp4");
    await bind(probe, 0);
    const port = probe.address().port & ~1;
    await closeQuietly(probe);
    if (port < 1024 || port >= 65534) continue;
    const a = dgram.createSocket("udp4");
    const b = dgram.createSocket("udp4");
    a.on("error", () => undefined);
    b.on("error", () => undefined);
    try {
      await bind(a, port);
      await bind(b, port + 1);
      return port;
    } catch {
      // Taken: try another pair.
    } finally {
      await Promise.all([closeQuietly(a), closeQuietly(b)]);
    }
  }
  throw new Error("no free pair of loopback UDP ports");
}

/** Sends the publisher's packets to ffmpeg's input port. */
export class RtpOutput {
  #socket: dgram.Socket | undefined;
  packets = 0;

  static async open(): Promise<RtpOutput> {
    const out = new RtpOutput();
    const socket = dgram.createSocket("udp4");
    // ffmpeg not listening yet (or gone) answers with ICMP; that is expected between restarts, not an error.
    socket.on("error", () => undefined);
    await bind(socket, 0);
    out.#socket = socket;
    return out;
  }

  send(rtp: RtpPacket, port: number): void {
    const socket = this.#socket;
    if (!socket) return;
    this.packets++;
    socket.send(rtp.serialize(), port, LOOPBACK);
  }

  close(): void {
    const s = this.#socket;
    this.#socket = undefined;
    if (s) void closeQuietly(s);
  }
}

/** One rendition's RTP from ffmpeg: parsed, made continuous, handed on; frames counted for the fps figure. */
export class RtpInput {
  readonly continuity: RtpContinuity;
  port = 0;
  packets = 0;
  frames = 0;
  lastPacketAt = 0;
  #lastTs: number | undefined;
  #socket: dgram.Socket | undefined;

  private constructor(ssrc: number) {
    this.continuity = new RtpContinuity(ssrc);
  }

  static async open(ssrc: number, onPacket: (rtp: RtpPacket) => void): Promise<RtpInput> {
    const input = new RtpInput(ssrc);
    const socket = dgram.createSocket("udp4");
    socket.on("error", () => undefined);
    socket.on("message", (msg, rinfo) => {
      // Only ffmpeg on this host sends here; anything else on the port is dropped.
      if (rinfo.address !== LOOPBACK || msg.length < 12 || isRtcpPacket(msg)) return;
      let rtp: RtpPacket;
      try {
        rtp = RtpPacket.deSerialize(msg);
      } catch {
        return;
      }
      const now = Date.now();
      input.continuity.map(rtp.header, now);
      input.packets++;
      input.lastPacketAt = now;
      if (rtp.header.timestamp !== input.#lastTs) {
        input.#lastTs = rtp.header.timestamp;
        input.frames++;
      }
      onPacket(rtp);
    });
    await bind(socket, 0);
    input.port = socket.address().port;
    input.#socket = socket;
    return input;
  }

  close(): void {
    const s = this.#socket;
    this.#socket = undefined;
    if (s) void closeQuietly(s);
  }
}
