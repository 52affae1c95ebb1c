// The floor of forwarding one packet to one viewer with the APIs the server has: one SRTP protect of a 1,200-byte
// RTP packet (AES-128-CTR + HMAC-SHA1-80 through node:crypto, as werift does it) and one loopback UDP send
// (node:dgram, which werift uses; Bun.udpSocket send and sendMany when the runtime has them). Costs are process
// CPU time (user + system) per packet, not wall time, so a loaded machine inflates them less.
//
// Run as its own processes, so the measuring one can sit on the server's core and the receiver elsewhere:
//   bun bench/lib/floor.ts sink              binds a UDP port on 127.0.0.1, prints {"port":N}, reads and drops
//   bun bench/lib/floor.ts measure PORT MS   measures, sending to PORT, about MS ms per variant; prints one JSON line
// The receiver is another process because on loopback part of the receive path runs in the sender's system time:
// the server pays it too, for every viewer.
import { createCipheriv, createHmac, randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { createInterface } from "node:readline";

export interface FloorResult {
  /** One SRTP protect of a 1,200-byte payload: cipher and HMAC set up per packet, tag appended. */
  srtpProtectUs: number;
  /** node:dgram socket.send(buf, port, ip), no callback (werift's path for a known address). */
  dgramSendUs: number;
  /** Bun.udpSocket send, one packet per call; undefined off Bun. */
  bunSendUs: number | undefined;
  /** Bun.udpSocket sendMany in batches of SEND_MANY_BATCH, per packet; undefined off Bun. */
  bunSendManyUs: number | undefined;
  /** SRTP protect plus the cheapest one-packet send: the limit a server could reach per packet and viewer. */
  limitUsPerPacket: number;
  packetBytes: number;
  runtime: string;
}

const PAYLOAD_BYTES = 1200;
const HEADER_BYTES = 12;
const AUTH_TAG_BYTES = 10;
const SEND_MANY_BATCH = 32;
/** Each variant is timed this many times and the cheapest run kept: a floor is the best case. */
const REPEATS = 3;
/** Operations between clock reads, and between yields to the event loop for the UDP sends to flush. */
const CHUNK = 64;
const MAX_OPS_PER_RUN = 2_000_000;

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** Runs `op` in chunks for about budgetMs of wall time (and at most MAX_OPS_PER_RUN); µs of CPU per op. */
async function time(op: (i: number) => unknown, budgetMs: number, yieldEveryChunk: boolean): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < REPEATS; r++) {
    const end = performance.now() + budgetMs / REPEATS;
    const c0 = cpuUs();
    let n = 0;
    while (performance.now() < end && n < MAX_OPS_PER_RUN) {
      for (let k = 0; k < CHUNK; k++) op(n++);
      // A yield lets queued sends complete inside the timed run, so their cost is counted.
      if (yieldEveryChunk) await new Promise<void>((res) => setImmediate(res));
    }
    const perOp = (cpuUs() - c0) / Math.max(1, n);
    if (perOp < best) best = perOp;
  }
  return best;
}

function srtpProtector(): (seq: number) => Buffer {
  const key = randomBytes(16);
  const salt = randomBytes(14);
  const authKey = randomBytes(20);
  const header = Buffer.alloc(HEADER_BYTES);
  header[0] = 0x80;
  header[1] = 96;
  header.writeUInt32BE(0x12345678, 8);
  const payload = randomBytes(PAYLOAD_BYTES);
  const iv = Buffer.alloc(16);
  const roc = Buffer.alloc(4);
  const out = Buffer.alloc(HEADER_BYTES + PAYLOAD_BYTES + AUTH_TAG_BYTES);
  return (seq: number) => {
    header.writeUInt16BE(seq & 0xffff, 2);
    // RFC 3711 IV: salt XOR (SSRC << 64 | index << 16); the buffer is reused, as an optimised server would.
    iv.fill(0);
    iv.writeUInt32BE(0x12345678, 4);
    iv.writeUInt32BE(0, 8);
    iv.writeUInt16BE(seq & 0xffff, 12);
    for (let i = 0; i < salt.length; i++) iv[i] = (iv[i] as number) ^ (salt[i] as number);
    // node:crypto cannot re-key a cipher with a new IV, so one cipher and one HMAC per packet is the minimum.
    const enc = createCipheriv("aes-128-ctr", key, iv).update(payload);
    const tag = createHmac("sha1", authKey).update(header).update(enc).update(roc).digest();
    header.copy(out, 0);
    enc.copy(out, HEADER_BYTES);
    tag.copy(out, HEADER_BYTES + PAYLOAD_BYTES, 0, AUTH_TAG_BYTES);
    return out;
  };
}

export async function measureFloor(port: number, budgetMs: number): Promise<FloorResult> {
  const protect = srtpProtector();
  const packet = Buffer.from(protect(1));
  const srtpProtectUs = await time((i) => protect(i), budgetMs, false);

  const sock = createSocket("udp4");
  await new Promise<void>((res) => sock.bind(0, "127.0.0.1", res));
  // A full receive buffer on the sink drops packets, which is fine; an error must not end the measurement.
  sock.on("error", () => undefined);
  const dgramSendUs = await time(() => sock.send(packet, port, "127.0.0.1"), budgetMs, true);
  sock.close();

  let bunSendUs: number | undefined;
  let bunSendManyUs: number | undefined;
  if (typeof Bun !== "undefined" && typeof Bun.udpSocket === "function") {
    // The error handler keeps an ICMP "port unreachable" (sink gone) from becoming an uncaught error.
    const udp = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0, socket: { error: () => undefined } });
    bunSendUs = await time(() => udp.send(packet, port, "127.0.0.1"), budgetMs, true);
    const batch: (Buffer | number | string)[] = [];
    for (let i = 0; i < SEND_MANY_BATCH; i++) batch.push(packet, port, "127.0.0.1");
    const perBatch = await time(() => udp.sendMany(batch as [Buffer, number, string]), budgetMs, true);
    bunSendManyUs = perBatch / SEND_MANY_BATCH;
    udp.close();
  }
  const cheapestSend = Math.min(dgramSendUs, bunSendUs ?? Number.POSITIVE_INFINITY);
  return {
    srtpProtectUs,
    dgramSendUs,
    bunSendUs,
    bunSendManyUs,
    limitUsPerPacket: srtpProtectUs + cheapestSend,
    packetBytes: packet.length,
    runtime: typeof Bun !== "undefined" ? `bun ${Bun.version}` : `node ${process.version}`,
  };
}

/** The receiving end: reads and drops, exits when its stdin closes (the benchmark ended) or after maxMs. */
async function sink(maxMs: number): Promise<void> {
  const sock = createSocket("udp4");
  let received = 0;
  sock.on("message", () => {
    received++;
  });
  sock.on("error", () => undefined);
  await new Promise<void>((res) => sock.bind(0, "127.0.0.1", res));
  process.stdout.write(`${JSON.stringify({ port: sock.address().port })}\n`);
  const done = () => {
    process.stderr.write(`floor sink: ${received} packets\n`);
    process.exit(0);
  };
  setTimeout(done, maxMs).unref();
  createInterface({ input: process.stdin }).on("close", done);
  // Keeps the process alive until stdin closes or the limit passes.
  await new Promise<void>((res) => setTimeout(res, maxMs));
}

if (import.meta.main) {
  const [mode, a, b] = process.argv.slice(2);
  if (mode === "sink") {
    await sink(Number(a ?? 120_000));
  } else if (mode === "measure") {
    const port = Number(a);
    if (!Number.isInteger(port) || port <= 0) throw new Error("usage: floor.ts measure PORT [BUDGET_MS]");
    const result = await measureFloor(port, Number(b ?? 1500));
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  } else {
    console.error("usage: floor.ts sink [MAX_MS] | floor.ts measure PORT [BUDGET_MS]");
    process.exit(2);
  }
}
