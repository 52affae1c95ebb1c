// werift publishers send VP8 and H264 RTP with known payloads; viewers check every payload arrives intact, in order,
// with the payload type each viewer negotiated and continuous sequence numbers.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, waitFor, waitRoomConnected, type ServerHandle } from "./helpers/server.ts";
import { play, publish, videoCodec } from "./helpers/weriftPeers.ts";

let server: ServerHandle;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

describe.each(["VP8", "H264", "H265"] as const)("forwarding %s", (codec) => {
  it("delivers every payload intact and in order to two viewers", async () => {
    const room = `fwd-${codec}`;
    const pub = await publish(server.url, room, { codec });
    const v1 = await play(server.url, room, { codecs: [videoCodec("VP8"), videoCodec("H264"), videoCodec("H265")] });
    // The second viewer lists other codecs first: its answer must still select the publisher's.
    const v2 = await play(server.url, room, { codecs: [videoCodec("H264", "640c1f"), videoCodec("VP8"), videoCodec("H265")] });
    // Let both viewers' DTLS settle so no packet is sent before they are wired.
    await waitRoomConnected(server.url, room, 2);
    await pub.sendVideo(300, 2);
    pub.sendAudio(50);
    await waitFor(
      () => v1.videoIndexes.length >= 300 && v2.videoIndexes.length >= 300 && v1.audioPackets > 0 && v2.audioPackets > 0,
      10_000,
      "all packets",
    );
    for (const v of [v1, v2]) {
      // The answer selects exactly the publisher's codec, whatever order the viewer offered.
      const videoSection = v.answer.split("m=video")[1]?.split("m=audio")[0] ?? "";
      const rtpmaps = [...videoSection.matchAll(/a=rtpmap:\d+ ([^/]+)\//g)].map((m) => m[1]);
      expect(rtpmaps).toEqual([codec]);
      expect(v.corrupt).toBe(0);
      expect(v.videoIndexes).toEqual([...Array(300).keys()]);
      for (let i = 1; i < v.videoSeqs.length; i++) {
        expect((v.videoSeqs[i]! - v.videoSeqs[i - 1]!) & 0xffff).toBe(1);
      }
      expect(v.audioPackets).toBeGreaterThan(0);
    }
    await Promise.all([pub.close(), v1.close(), v2.close()]);
  });
});

describe("one UDP port for all media", () => {
  it("RTC_PORT_MIN = RTC_PORT_MAX: every answer's candidates use that port, and two rooms' media flows through it", async () => {
    // A port free now: bound once here, then released for the server.
    const { createSocket } = await import("node:dgram");
    const probe = createSocket("udp4");
    const port = await new Promise<number>((res) => probe.bind(0, "127.0.0.1", () => res(probe.address().port)));
    await new Promise<void>((res) => probe.close(() => res()));
    const one = await startServer({ RTC_PORT_MIN: String(port), RTC_PORT_MAX: String(port) });
    try {
      const sessions: { room: string; pub: Awaited<ReturnType<typeof publish>>; viewer: Awaited<ReturnType<typeof play>> }[] = [];
      for (const room of ["mux-a", "mux-b"]) {
        const pub = await publish(one.url, room);
        const viewer = await play(one.url, room);
        sessions.push({ room, pub, viewer });
        for (const sdp of [pub.answer, viewer.answer]) {
          const ports = [...sdp.matchAll(/^a=candidate:\S+ \d+ udp \d+ \S+ (\d+) typ/gim)].map((m) => Number(m[1]));
          expect(ports.length).toBeGreaterThan(0);
          expect(new Set(ports)).toEqual(new Set([port]));
        }
      }
      for (const { room } of sessions) await waitRoomConnected(one.url, room, 1);
      await Promise.all(sessions.map(({ pub }) => pub.sendVideo(100, 2)));
      await waitFor(() => sessions.every(({ viewer }) => viewer.videoIndexes.length >= 100), 10_000, "both rooms' packets");
      // Each viewer got its own room's stream, complete and in order: the shared socket routed by session.
      for (const { viewer } of sessions) {
        expect(viewer.videoIndexes).toEqual([...Array(100).keys()]);
        expect(viewer.corrupt).toBe(0);
      }
      // Those packets were protected by the machine's libcrypto (bun:ffi), which the server names at start.
      expect(one.lines.some((l) => l.includes('"srtpByLibcrypto":true'))).toBe(true);
      const metrics = await (await fetch(`${one.url}/metrics`)).text();
      expect(metrics).toMatch(/^roomcast_forward_cpu_microseconds_per_packet \S+$/m);
      await Promise.all(sessions.flatMap(({ pub, viewer }) => [pub.close(), viewer.close()]));
    } finally {
      await one.stop();
    }
  });

  it("a port already taken stops the start with one line naming the range", async () => {
    const { createSocket } = await import("node:dgram");
    const taken = createSocket("udp4");
    const port = await new Promise<number>((res) => taken.bind(0, "0.0.0.0", () => res(taken.address().port)));
    try {
      await expect(startServer({ RTC_PORT_MIN: String(port), RTC_PORT_MAX: String(port) })).rejects.toThrow(/cannot bind a UDP port for media in/);
    } finally {
      taken.close();
    }
  });
});
