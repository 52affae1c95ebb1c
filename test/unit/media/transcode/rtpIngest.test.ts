import dgram from "node:dgram";
import { RtpHeader, RtpPacket } from "werift";
import { describe, expect, it, vi } from "vitest";
import { freeUdpPortPair, isRtcpPacket, RtpContinuity, RtpInput, RtpOutput } from "../../../../src/media/transcode/rtpIngest.ts";

const header = (ssrc: number, sequenceNumber: number, timestamp: number) => ({ ssrc, sequenceNumber, timestamp });

describe("RtpContinuity", () => {
  it("the first source passes through under the rendition's own SSRC", () => {
    const c = new RtpContinuity(0xabcdef01);
    const h = header(1111, 500, 90_000);
    c.map(h, 0);
    expect(h).toEqual(header(0xabcdef01, 500, 90_000));
  });

  it("a new ffmpeg (new SSRC, sequence and clock) continues right after the last packet", () => {
    const c = new RtpContinuity(7);
    for (let i = 0; i < 3; i++) c.map(header(1111, 65534 + i, 1000 + i * 3000), 1000 + i * 33);
    // Last out: seq 0 (wrapped), ts 7000 at t=1066. The new process starts 2 s later with its own numbering.
    c.newSource();
    const h = header(2222, 40_000, 4_000_000_000);
    c.map(h, 3066);
    expect(h).toEqual(header(7, 1, 7000 + 2000 * 90));
    const next = header(2222, 40_001, 4_000_000_000 + 3000);
    c.map(next, 3099);
    expect(next).toEqual(header(7, 2, 7000 + 2000 * 90 + 3000));
  });

  it("an SSRC change is a new source even without newSource()", () => {
    const c = new RtpContinuity(7);
    c.map(header(1, 10, 100), 0);
    const h = header(2, 9000, 5);
    c.map(h, 0);
    expect(h.sequenceNumber).toBe(11);
    expect(h.timestamp).toBe(101);
  });

  it("a late, reordered packet keeps its place without moving the reference back", () => {
    const c = new RtpContinuity(7);
    c.map(header(1, 10, 100), 0);
    c.map(header(1, 12, 300), 0);
    const late = header(1, 11, 200);
    c.map(late, 0);
    expect(late.sequenceNumber).toBe(11);
    c.newSource();
    const h = header(2, 500, 0);
    c.map(h, 0);
    expect(h.sequenceNumber).toBe(13);
  });
});

describe("isRtcpPacket", () => {
  it("sender reports (PT 200) are RTCP; RTP with PT 96 and the marker is not", () => {
    expect(isRtcpPacket(Uint8Array.of(0x80, 200))).toBe(true);
    expect(isRtcpPacket(Uint8Array.of(0x80, 0x80 | 96))).toBe(false);
    expect(isRtcpPacket(Uint8Array.of(0x80, 96))).toBe(false);
    expect(isRtcpPacket(Uint8Array.of(0x80))).toBe(false);
  });
});

describe("loopback sockets", () => {
  it("RtpOutput → RtpInput: packets arrive rewritten, frames counted, RTCP dropped", async () => {
    const got: RtpPacket[] = [];
    const input = await RtpInput.open(0x01020304, (rtp) => got.push(rtp));
    const output = await RtpOutput.open();
    try {
      for (let i = 0; i < 4; i++) {
        const h = new RtpHeader({ payloadType: 96, sequenceNumber: 100 + i, timestamp: 3000 * Math.floor(i / 2), ssrc: 99, marker: i % 2 === 1 });
        output.send(new RtpPacket(h, Buffer.from([0x65, i])), input.port);
      }
      const rtcp = dgram.createSocket("udp4");
      await new Promise<void>((r) => rtcp.send(Buffer.from([0x80, 200, 0, 6, ...new Array(24).fill(0)]), input.port, "127.0.0.1", () => r()));
      rtcp.close();
      await vi.waitFor(() => expect(got.length).toBeGreaterThanOrEqual(4), { timeout: 2000, interval: 10 }).catch(() => undefined);
      expect(got.map((p) => p.header.sequenceNumber)).toEqual([100, 101, 102, 103]);
      expect(got.every((p) => p.header.ssrc === 0x01020304)).toBe(true);
      expect(input.packets).toBe(4);
      expect(input.frames).toBe(2);
      expect(output.packets).toBe(4);
    } finally {
      input.close();
      output.close();
    }
  });

  it("freeUdpPortPair: an even port whose neighbour is free too", async () => {
    const port = await freeUdpPortPair();
    expect(port % 2).toBe(0);
    for (const p of [port, port + 1]) {
      const s = dgram.createSocket("udp4");
      await new Promise<void>((resolve, reject) => {
        s.once("error", reject);
        s.bind(p, "127.0.0.1", () => resolve());
      });
      s.close();
    }
  });
});
