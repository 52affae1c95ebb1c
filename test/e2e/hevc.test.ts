// Issue 17: HEVC from OBS. A libdatachannel publisher sends H265 RTP (a libx265 clip, RFC 7798) and Opus; a werift
// viewer that offers H265 receives every video packet intact and in order; a viewer offering only VP8/H264 gets a
// 400 naming the codec; the room API says H265 is not transcoded although a ladder is set; with RECORD_ENABLED the
// .h265 file and the session's mkv pass ffprobe with the right codec, size, frame count and duration.
import { join } from "node:path";
import type { RtpPacket } from "werift";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ffprobe } from "../media/files.ts";
import { hevcPublish, type HevcPublisher } from "./helpers/ldcHevc.ts";
import { startServer, waitFor, type ServerHandle } from "./helpers/server.ts";
import { play, postSdp, videoCodec, viewerOffer } from "./helpers/weriftPeers.ts";

interface Listed {
  name: string;
  inProgress: boolean;
}

describe("H265 from libdatachannel (OBS's HEVC)", () => {
  let server: ServerHandle;
  let pub: HevcPublisher | undefined;

  beforeAll(async () => {
    server = await startServer({ RECORD_ENABLED: "true", TRANSCODE_LADDER: "360p:500k" });
  });
  afterAll(async () => {
    await pub?.close();
    await server?.stop();
  });

  it("forwards every packet intact to an H265 viewer, refuses a VP8/H264 viewer clearly, is not transcoded, and records .h265 and mkv", async () => {
    const room = "hevc";
    const seconds = 4;
    pub = await hevcPublish(server.url, room, { width: 640, height: 360, fps: 30, seconds });
    expect(pub.answer).toMatch(/a=rtpmap:96 H265\/90000/);

    const details = (await (await fetch(`${server.url}/api/rooms/${room}`)).json()) as {
      tracks: { kind: string; codec: string }[];
      transcode: { state: string; reason: string; renditions: unknown[] } | null;
    };
    expect(details.tracks.map((t) => t.codec)).toEqual(["audio/opus", "video/H265"]);
    // A ladder is set for every room, but H265 is passed through as it is, and the room API says why.
    expect(details.transcode).toEqual({ state: "off", reason: "video/H265 is not transcoded (H264 and VP8 are)", renditions: [] });

    const refused = await postSdp(`${server.url}/api/whep/play/${room}`, await viewerOffer());
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body)).toEqual({
      error: "viewer offer cannot receive the publisher's video codec video/H265 (profile-id=1, tier-flag=0, level-id=93); it offers VP8, H264",
    });

    const received: { seq: number; ts: number; marker: boolean; payload: Buffer }[] = [];
    const viewer = await play(server.url, room, {
      codecs: [videoCodec("H265")],
      onRtp: (kind: string, rtp: RtpPacket) => {
        if (kind === "video") received.push({ seq: rtp.header.sequenceNumber, ts: rtp.header.timestamp, marker: rtp.header.marker, payload: Buffer.from(rtp.payload) });
      },
    });
    try {
      expect(viewer.answer).toMatch(/a=rtpmap:\d+ H265\/90000/);
      pub.start();
      await pub.done;
      const sent = pub.sent;
      expect(pub.framesSent).toBe(seconds * 30);
      await waitFor(() => received.length >= sent.length, 10_000, `all ${sent.length} video packets at the viewer`).catch((err: unknown) => {
        throw new Error(`${String(err)}: ${received.length} arrived`);
      });
      expect(received).toHaveLength(sent.length);
      // Intact and in order: each payload byte for byte, the marker bits, consecutive sequence numbers and the same
      // timestamp steps (the server maps both into the viewer's own space).
      const first = received[0] as (typeof received)[number];
      received.forEach((r, i) => {
        const s = sent[i] as (typeof sent)[number];
        expect(r.payload.equals(s.payload), `packet ${i} payload`).toBe(true);
        expect(r.marker).toBe(s.marker);
        expect((r.seq - first.seq) & 0xffff).toBe(i);
        expect((r.ts - first.ts) >>> 0).toBe((s.timestamp - (sent[0] as (typeof sent)[number]).timestamp) >>> 0);
      });
    } finally {
      await viewer.close();
    }

    expect(await pub.close()).toBe(200);
    pub = undefined;
    const dir = join(server.cwd, "recordings");
    const files = await waitFor(
      async () => {
        const list = (await (await fetch(`${server.url}/api/records?room=${room}`)).json()) as Listed[];
        return list.length === 3 && list.every((r) => !r.inProgress) ? list.map((r) => r.name) : undefined;
      },
      15_000,
      "the .h265, .ogg and remuxed .mkv",
    );
    const h265 = files.find((n) => n.endsWith(".h265")) as string;
    const mkv = files.find((n) => n.endsWith(".mkv")) as string;
    expect(h265).toMatch(/^hevc_video0_\d+\.h265$/);
    const raw = await ffprobe(join(dir, h265), { countFrames: true });
    expect(raw.streams.map((s) => [s.codec_name, s.width, s.height, s.nb_read_frames])).toEqual([["hevc", 640, 360, String(seconds * 30)]]);
    const session = await ffprobe(join(dir, mkv), { countFrames: true });
    const video = session.streams.find((s) => s.codec_type === "video");
    expect([video?.codec_name, video?.width, video?.height, video?.nb_read_frames]).toEqual(["hevc", 640, 360, String(seconds * 30)]);
    expect(session.streams.find((s) => s.codec_type === "audio")?.codec_name).toBe("opus");
    expect(Math.abs(Number(session.format.duration) - seconds)).toBeLessThan(0.3);
    const served = await fetch(`${server.url}/records/${h265}`);
    expect(served.headers.get("content-type")).toBe("video/h265");
  });
});
