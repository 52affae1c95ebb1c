// Test-side RTP packetizers, written from the RFCs independently of src/media, to feed the depacketizers real
// encoded frames the way browsers, OBS and libdatachannel send them.
import { readLeb128 } from "../../src/media/bits.ts";

export interface TestRtp {
  header: { sequenceNumber: number; timestamp: number; marker: boolean; ssrc: number };
  payload: Buffer;
}

/** Turns per-frame payload lists into RTP packets with consecutive sequence numbers (wrapping at 16 bits). */
export function toRtp(
  frames: { payloads: Buffer[]; timestamp: number }[],
  opts: { seq?: number; ssrc?: number; marker?: "last" | "none" } = {},
): TestRtp[] {
  let seq = opts.seq ?? 1000;
  const out: TestRtp[] = [];
  for (const f of frames) {
    f.payloads.forEach((payload, i) => {
      out.push({
        header: {
          sequenceNumber: seq & 0xffff,
          timestamp: f.timestamp >>> 0,
          marker: opts.marker !== "none" && i === f.payloads.length - 1,
          ssrc: opts.ssrc ?? 0x1234,
        },
        payload,
      });
      seq++;
    });
  }
  return out;
}

function chunks(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out.length > 0 ? out : [Buffer.alloc(0)];
}

/** RFC 7741 with X, I and a 15-bit picture id. */
export function packetizeVp8(frame: Buffer, pictureId: number, mtu = 1000): Buffer[] {
  return chunks(frame, mtu).map((c, i) =>
    Buffer.concat([Buffer.from([0x80 | (i === 0 ? 0x10 : 0), 0x80, 0x80 | ((pictureId >> 8) & 0x7f), pictureId & 0xff]), c]),
  );
}

/** RFC 9628 non-flexible mode (or flexible with one reference), scalability structure on key frames. */
export function packetizeVp9(
  frame: Buffer,
  opts: { pictureId: number; keyframe: boolean; width: number; height: number; flexible?: boolean; mtu?: number },
): Buffer[] {
  const parts = chunks(frame, opts.mtu ?? 1000);
  return parts.map((c, i) => {
    const B = i === 0 ? 0x08 : 0;
    const E = i === parts.length - 1 ? 0x04 : 0;
    const V = i === 0 && opts.keyframe ? 0x02 : 0;
    const P = opts.keyframe ? 0 : 0x40;
    const F = opts.flexible ? 0x10 : 0;
    const head = [0x80 | P | F | B | E | V, 0x80 | ((opts.pictureId >> 8) & 0x7f), opts.pictureId & 0xff];
    if (opts.flexible && !opts.keyframe) head.push(1 << 1); // P_DIFF=1, N=0
    if (V) head.push(0x10, opts.width >> 8, opts.width & 0xff, opts.height >> 8, opts.height & 0xff);
    return Buffer.concat([Buffer.from(head), c]);
  });
}

function leb(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return Buffer.from(out);
}

/** Splits a low-overhead-format temporal unit into OBUs without their size fields, dropping temporal delimiters. */
export function av1Obus(tu: Buffer): Buffer[] {
  const obus: Buffer[] = [];
  let at = 0;
  while (at < tu.length) {
    const h = tu[at] as number;
    const ext = h & 0x04 ? 1 : 0;
    const headerEnd = at + 1 + ext;
    let size: number;
    let payloadAt: number;
    if (h & 0x02) {
      const len = readLeb128(tu, headerEnd);
      if (!len) throw new Error("bad leb128");
      size = len.value;
      payloadAt = headerEnd + len.length;
    } else {
      size = tu.length - headerEnd;
      payloadAt = headerEnd;
    }
    const type = (h >> 3) & 0x0f;
    if (type !== 2) {
      const header = Buffer.from(tu.subarray(at, headerEnd));
      header[0] = h & ~0x02;
      obus.push(Buffer.concat([header, tu.subarray(payloadAt, payloadAt + size)]));
    }
    at = payloadAt + size;
  }
  return obus;
}

/**
 * AV1 RTP: OBU elements aggregated into packets up to `mtu`, large OBUs fragmented (Z/Y bits). `lastWithoutLength`
 * uses W to drop the last element's length field, as Chrome does.
 */
export function packetizeAv1(tu: Buffer, opts: { mtu?: number; newSequence?: boolean; lastWithoutLength?: boolean } = {}): Buffer[] {
  const mtu = opts.mtu ?? 1000;
  const obus = av1Obus(tu);
  const packets: { z: boolean; y: boolean; elements: Buffer[] }[] = [];
  let cur: { z: boolean; y: boolean; elements: Buffer[]; size: number } = { z: false, y: false, elements: [], size: 1 };
  const push = () => {
    if (cur.elements.length > 0) packets.push(cur);
  };
  for (const obu of obus) {
    let rest = obu;
    let continuation = false;
    while (rest.length > 0) {
      const room = mtu - cur.size - 2;
      if (room <= 16) {
        push();
        cur = { z: continuation, y: false, elements: [], size: 1 };
        continue;
      }
      const take = Math.min(room, rest.length);
      cur.elements.push(rest.subarray(0, take));
      cur.size += take + 2;
      rest = rest.subarray(take);
      if (rest.length > 0) {
        cur.y = true;
        push();
        continuation = true;
        cur = { z: true, y: false, elements: [], size: 1 };
      }
    }
  }
  push();
  return packets.map((p, i) => {
    const w = opts.lastWithoutLength && p.elements.length <= 3 ? p.elements.length : 0;
    const head = (p.z ? 0x80 : 0) | (p.y ? 0x40 : 0) | (w << 4) | (i === 0 && opts.newSequence ? 0x08 : 0);
    const body = p.elements.map((el, k) => (w !== 0 && k === p.elements.length - 1 ? el : Buffer.concat([leb(el.length), el])));
    return Buffer.concat([Buffer.from([head]), ...body]);
  });
}

/** RFC 6184 mode 1: small NAL units together in STAP-A, large ones in FU-A, the rest as single NAL units. */
export function packetizeH264(nals: Buffer[], mtu = 1000): Buffer[] {
  const out: Buffer[] = [];
  let stap: Buffer[] = [];
  const flushStap = () => {
    if (stap.length === 1) out.push(stap[0] as Buffer);
    else if (stap.length > 1) {
      const nri = Math.max(...stap.map((n) => (n[0] as number) & 0x60));
      out.push(Buffer.concat([Buffer.from([nri | 24]), ...stap.flatMap((n) => [Buffer.from([n.length >> 8, n.length & 0xff]), n])]));
    }
    stap = [];
  };
  for (const nal of nals) {
    if (nal.length <= 100) {
      stap.push(nal);
      continue;
    }
    flushStap();
    if (nal.length <= mtu) {
      out.push(nal);
      continue;
    }
    const h = nal[0] as number;
    const body = nal.subarray(1);
    const parts = chunks(body, mtu - 2);
    parts.forEach((c, i) => {
      const fuHeader = (i === 0 ? 0x80 : 0) | (i === parts.length - 1 ? 0x40 : 0) | (h & 0x1f);
      out.push(Buffer.concat([Buffer.from([(h & 0xe0) | 28, fuHeader]), c]));
    });
  }
  flushStap();
  return out;
}

/**
 * RFC 7798 without DONL: NAL units up to 100 bytes together in aggregation packets (AP, type 48), larger ones than
 * `mtu` in fragmentation units (FU, type 49), the rest as single NAL unit packets.
 */
export function packetizeH265(nals: Buffer[], mtu = 1000): Buffer[] {
  const out: Buffer[] = [];
  let ap: Buffer[] = [];
  const flushAp = () => {
    if (ap.length === 1) out.push(ap[0] as Buffer);
    else if (ap.length > 1) {
      // The AP's header: F if any unit has it, the lowest LayerId and TID of its units (RFC 7798 §4.4.2).
      const f = ap.some((n) => ((n[0] as number) & 0x80) !== 0) ? 0x80 : 0;
      const layerId = Math.min(...ap.map((n) => (((n[0] as number) & 1) << 5) | ((n[1] as number) >> 3)));
      const tid = Math.min(...ap.map((n) => (n[1] as number) & 7));
      const header = Buffer.from([f | (48 << 1) | (layerId >> 5), ((layerId & 0x1f) << 3) | tid]);
      out.push(Buffer.concat([header, ...ap.flatMap((n) => [Buffer.from([n.length >> 8, n.length & 0xff]), n])]));
    }
    ap = [];
  };
  for (const nal of nals) {
    if (nal.length <= 100) {
      ap.push(nal);
      continue;
    }
    flushAp();
    if (nal.length <= mtu) {
      out.push(nal);
      continue;
    }
    const h0 = nal[0] as number;
    const h1 = nal[1] as number;
    const type = (h0 >> 1) & 0x3f;
    const parts = chunks(nal.subarray(2), mtu - 3);
    parts.forEach((c, i) => {
      const fuHeader = (i === 0 ? 0x80 : 0) | (i === parts.length - 1 ? 0x40 : 0) | type;
      out.push(Buffer.concat([Buffer.from([(h0 & 0x81) | (49 << 1), h1, fuHeader]), c]));
    });
  }
  flushAp();
  return out;
}
