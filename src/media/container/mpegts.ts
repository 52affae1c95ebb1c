// The smallest MPEG-TS (ISO 13818-1) that carries one video elementary stream with its times: a PAT and a PMT,
// then one PES per access unit with its PTS (90 kHz, as RTP video time), split into 188-byte packets. It exists for
// the mkv remux of H265: Annex-B has no timestamps, and ffmpeg's IVF reader (which the H264 remux uses) does not
// know HEVC, while its MPEG-TS reader does. No B-frames pass through roomcast, so DTS equals PTS and is left out.

const PACKET = 188;
const PAT_PID = 0x0000;
const PMT_PID = 0x1000;
export const TS_VIDEO_PID = 0x0100;
/** ISO 13818-1 stream types. */
export const TS_STREAM_TYPE = { h264: 0x1b, h265: 0x24 } as const;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC-32/MPEG-2 (no reflection, init all ones, no final xor), which PSI sections end with. */
export function crc32Mpeg(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = ((crc << 8) ^ (CRC_TABLE[((crc >>> 24) ^ (data[i] as number)) & 0xff] as number)) >>> 0;
  return crc;
}

function section(tableId: number, idExtension: number, body: number[]): Buffer {
  // section_length counts from after itself: id extension (2), version (1), numbers (2), body, CRC (4).
  const length = 5 + body.length + 4;
  const s = Buffer.from([tableId, 0xb0 | (length >> 8), length & 0xff, idExtension >> 8, idExtension & 0xff, 0xc1, 0, 0, ...body, 0, 0, 0, 0]);
  s.writeUInt32BE(crc32Mpeg(s.subarray(0, s.length - 4)), s.length - 4);
  return s;
}

function psiPacket(pid: number, sec: Buffer): Buffer {
  const p = Buffer.alloc(PACKET, 0xff);
  p[0] = 0x47;
  p[1] = 0x40 | (pid >> 8);
  p[2] = pid & 0xff;
  p[3] = 0x10; // payload only, continuity counter 0 (each table is written once)
  p[4] = 0; // pointer_field
  sec.copy(p, 5);
  return p;
}

/** 5-byte PTS field with the '0010' prefix and marker bits. */
function ptsField(pts: number): Buffer {
  const hi = Math.floor(pts / 2 ** 30) & 0x07;
  const mid = Math.floor(pts / 2 ** 15) & 0x7fff;
  const lo = pts & 0x7fff;
  return Buffer.from([0x21 | (hi << 1), mid >> 7, ((mid & 0x7f) << 1) | 1, lo >> 7, ((lo & 0x7f) << 1) | 1]);
}

export class MpegTsWriter {
  #continuity = 0;
  readonly #streamType: number;

  constructor(codec: keyof typeof TS_STREAM_TYPE) {
    this.#streamType = TS_STREAM_TYPE[codec];
  }

  /** PAT and PMT: one program, its video on TS_VIDEO_PID, which also carries the PCR. */
  header(): Buffer {
    const pat = section(0x00, 1, [0x00, 0x01, 0xe0 | (PMT_PID >> 8), PMT_PID & 0xff]);
    const pmt = section(0x02, 1, [
      0xe0 | (TS_VIDEO_PID >> 8), TS_VIDEO_PID & 0xff, 0xf0, 0x00,
      this.#streamType, 0xe0 | (TS_VIDEO_PID >> 8), TS_VIDEO_PID & 0xff, 0xf0, 0x00,
    ]);
    return Buffer.concat([psiPacket(PAT_PID, pat), psiPacket(PMT_PID, pmt)]);
  }

  /** One access unit at `pts` (90 kHz ticks, wrapped to 33 bits), with a PCR at its first packet. */
  frame(data: Uint8Array, pts: number): Buffer {
    const pts33 = ((pts % 2 ** 33) + 2 ** 33) % 2 ** 33;
    // PES_packet_length 0: unbounded, which ISO 13818-1 allows for video in TS.
    const pes = Buffer.concat([Buffer.from([0, 0, 1, 0xe0, 0, 0, 0x80, 0x80, 5]), ptsField(pts33), data]);
    const packets: Buffer[] = [];
    let at = 0;
    let first = true;
    while (at < pes.length) {
      const p = Buffer.alloc(PACKET, 0xff);
      p[0] = 0x47;
      p[1] = (first ? 0x40 : 0) | (TS_VIDEO_PID >> 8);
      p[2] = TS_VIDEO_PID & 0xff;
      // The adaptation field: a PCR on the first packet, stuffing on the last.
      const pcr = first ? 6 : 0;
      const room = PACKET - 4;
      const left = pes.length - at;
      const minAdaptation = pcr > 0 ? 2 + pcr : 0;
      let adaptation = minAdaptation;
      if (left < room - adaptation) adaptation = room - left;
      const payload = room - adaptation;
      p[3] = (adaptation > 0 ? 0x30 : 0x10) | this.#continuity;
      this.#continuity = (this.#continuity + 1) & 0x0f;
      if (adaptation > 0) {
        p[4] = adaptation - 1;
        if (adaptation > 1) {
          p[5] = pcr > 0 ? 0x10 : 0x00;
          if (pcr > 0) {
            // PCR base (33 bits) = PTS, extension 0: the decoder clock reaches each picture as it is due.
            p.writeUInt32BE(Math.floor(pts33 / 2), 6);
            p[10] = ((pts33 & 1) << 7) | 0x7e;
            p[11] = 0;
          }
        }
      }
      pes.copy(p, 4 + adaptation, at, at + payload);
      at += payload;
      first = false;
      packets.push(p);
    }
    return Buffer.concat(packets);
  }
}
