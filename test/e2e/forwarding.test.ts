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
