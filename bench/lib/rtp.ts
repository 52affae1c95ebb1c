// The synthetic media of the benchmark: RTP packets labelled VP8 and Opus whose payloads carry a probe (a magic
// word, a per-stream counter and the send time), so every viewer can tell which packets reached it and how late.
// The server never decodes media, so the payload only has to look right to what the server does read: the VP8
// payload descriptor and frame tag, from which it detects keyframes for its GOP cache.

export const VIDEO_PT = 96;
export const AUDIO_PT = 111;
export const VIDEO_CLOCK = 90_000;
export const AUDIO_CLOCK = 48_000;

/** 2.5 Mbps of 1,200-byte payloads: 260 packets/s, 30 frames/s of 8 or 9 packets each. */
export const VIDEO_PAYLOAD_BYTES = 1200;
export const VIDEO_PPS = 260;
export const VIDEO_FPS = 30;
/** Opus at ~64 kbps in 20 ms frames. */
export const AUDIO_PAYLOAD_BYTES = 160;
export const AUDIO_PPS = 50;
/** A keyframe every 2 s (OBS's default), so the server's GOP cache holds what it would in production. */
export const KEYFRAME_INTERVAL_FRAMES = 60;

/** The probe sits past the VP8 descriptor and frame header (10 bytes for a keyframe), in both streams. */
export const PROBE_OFFSET = 16;
export const PROBE_BYTES = 16;
export const MAGIC_VIDEO = 0x52435646; // "RCVF"
export const MAGIC_AUDIO = 0x52434146; // "RCAF"

const RTP_HEADER_BYTES = 12;

export function randomSsrc(): number {
  return (Math.floor(Math.random() * 0xfffffff0) + 1) >>> 0;
}

/**
 * Builds the packets of one stream into one reused buffer: libdatachannel copies what it is given, so nothing is
 * allocated per packet on the client side (the client must cost little next to the server).
 */
export class SyntheticStream {
  readonly ssrc = randomSsrc();
  /** The counter the next packet carries; also the number of packets sent so far. */
  counter = 0;
  #seq = Math.floor(Math.random() * 0x10000);
  readonly #timestamp0 = randomSsrc();
  readonly #buf: Buffer;
  readonly #kind: "video" | "audio";
  #keyframeWanted = true;

  constructor(kind: "video" | "audio") {
    this.#kind = kind;
    this.#buf = Buffer.alloc(RTP_HEADER_BYTES + (kind === "video" ? VIDEO_PAYLOAD_BYTES : AUDIO_PAYLOAD_BYTES));
  }

  /** A PLI or FIR from the server: the next video frame starts with a keyframe. */
  requestKeyframe(): void {
    this.#keyframeWanted = true;
  }

  /** The next packet, stamped with `nowMs` (performance.now() of the sending process). Valid until the next call. */
  next(nowMs: number): Buffer {
    const b = this.#buf;
    const n = this.counter++;
    let marker = 0;
    let timestamp: number;
    if (this.#kind === "video") {
      // Packet n belongs to frame floor(n * fps / pps): frames of 8 or 9 packets, evenly spread.
      const frame = Math.floor((n * VIDEO_FPS) / VIDEO_PPS);
      const firstOfFrame = n === 0 || Math.floor(((n - 1) * VIDEO_FPS) / VIDEO_PPS) !== frame;
      const lastOfFrame = Math.floor(((n + 1) * VIDEO_FPS) / VIDEO_PPS) !== frame;
      marker = lastOfFrame ? 0x80 : 0;
      timestamp = (this.#timestamp0 + frame * (VIDEO_CLOCK / VIDEO_FPS)) >>> 0;
      const p = RTP_HEADER_BYTES;
      b.fill(0, p, p + PROBE_OFFSET);
      if (firstOfFrame) {
        const key = this.#keyframeWanted || frame % KEYFRAME_INTERVAL_FRAMES === 0;
        if (key) this.#keyframeWanted = false;
        // VP8 payload descriptor (RFC 7741): S=1, PID=0, no extensions.
        b[p] = 0x10;
        // VP8 frame tag: bit 0 is P (0 = key frame), show_frame set; then the key frame start code and a
        // 640x360 size, as a decoder (and the server's keyframe detector) expects them.
        b[p + 1] = key ? 0x10 : 0x11;
        if (key) {
          b[p + 4] = 0x9d;
          b[p + 5] = 0x01;
          b[p + 6] = 0x2a;
          b.writeUInt16LE(640, p + 7);
          b.writeUInt16LE(360, p + 9);
        }
      } else {
        // A continuation of the frame's partition: S=0.
        b[p] = 0x00;
      }
    } else {
      timestamp = (this.#timestamp0 + n * (AUDIO_CLOCK / AUDIO_PPS)) >>> 0;
    }
    b[0] = 0x80;
    b[1] = marker | (this.#kind === "video" ? VIDEO_PT : AUDIO_PT);
    b.writeUInt16BE(this.#seq, 2);
    this.#seq = (this.#seq + 1) & 0xffff;
    b.writeUInt32BE(timestamp, 4);
    b.writeUInt32BE(this.ssrc, 8);
    const probe = RTP_HEADER_BYTES + PROBE_OFFSET;
    b.writeUInt32BE(this.#kind === "video" ? MAGIC_VIDEO : MAGIC_AUDIO, probe);
    b.writeUInt32BE(n >>> 0, probe + 4);
    b.writeDoubleBE(nowMs, probe + 8);
    return b;
  }
}

/** RTCP shares the port with RTP (rtcp-mux); its packet types 192–223 fill the second byte (RFC 5761). */
export function isRtcp(msg: Uint8Array): boolean {
  const pt = msg[1] ?? 0;
  return msg.length >= 2 && pt >= 192 && pt <= 223;
}

/** Offset of the RTP payload: fixed header, CSRCs and the header extension the server may add (mid). */
export function rtpPayloadOffset(msg: Buffer): number {
  const b0 = msg[0] ?? 0;
  let offset = RTP_HEADER_BYTES + (b0 & 0x0f) * 4;
  if ((b0 & 0x10) !== 0) {
    if (offset + 4 > msg.length) return -1;
    offset += 4 + msg.readUInt16BE(offset + 2) * 4;
  }
  return offset <= msg.length ? offset : -1;
}

/** Counts the keyframe requests (PLI, FIR) in a compound RTCP packet. */
export function keyframeRequests(msg: Buffer): number {
  let n = 0;
  let i = 0;
  // Bounded by the packet: each RTCP packet's length field moves i forward by at least 4 bytes.
  while (i + 4 <= msg.length) {
    const fmt = (msg[i] ?? 0) & 0x1f;
    const pt = msg[i + 1] ?? 0;
    if ((pt === 206 && fmt === 1) || (pt === 206 && fmt === 4)) n++;
    i += (msg.readUInt16BE(i + 2) + 1) * 4;
  }
  return n;
}
