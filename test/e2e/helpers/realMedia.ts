// Real encoded media through a werift publisher: VP8/VP9/AV1 frames from an ffmpeg-encoded IVF and Opus packets
// from an ffmpeg-encoded Ogg, packetized by test/media/packetize.ts and paced like a live sender (video and audio
// on one clock). Sequence numbers and timestamps can start just below their wrap points.
import { RtpHeader, RtpPacket } from "werift";
import { encodedSource, readIvf, readOgg, readSource } from "../../media/files.ts";
import { packetizeAv1, packetizeVp8, packetizeVp9 } from "../../media/packetize.ts";
import type { WeriftPublisher } from "./weriftPeers.ts";

export interface RealMediaOptions {
  video?: "vp8" | "vp9" | "av1";
  audio?: boolean;
  /** Length of the encoded source; it is sent once. */
  seconds: number;
  /** 1 = real time; 2 = twice as fast (the RTP timestamps still say real time). */
  speed?: number;
  /** First sequence number of both streams (near 65535 to cross the wrap). */
  startSeq?: number;
  /** First RTP timestamp of both streams (near 2^32 to cross the wrap). */
  startTimestamp?: number;
  /** Packets (by index in the video stream) not sent, as if lost. */
  dropVideoPackets?: (index: number) => boolean;
}

export interface RealMediaResult {
  videoFrames: number;
  videoPackets: number;
  audioPackets: number;
}

export async function sendRealMedia(pub: WeriftPublisher, opts: RealMediaOptions): Promise<RealMediaResult> {
  const speed = opts.speed ?? 1;
  const seq0 = opts.startSeq ?? 1000;
  const ts0 = opts.startTimestamp ?? 90_000;
  const kind = opts.video;
  const ivf = kind ? readIvf(readSource(await encodedSource(kind, opts.seconds))) : undefined;
  const opus = opts.audio === false ? [] : readOgg(readSource(await encodedSource("opus", opts.seconds))).packets.slice(2).map((p) => p.data);
  const frames = ivf?.frames ?? [];
  const result: RealMediaResult = { videoFrames: 0, videoPackets: 0, audioPackets: 0 };
  let videoSeq = seq0;
  let audioSeq = seq0;
  const sendFrame = (i: number) => {
    const f = frames[i];
    if (!f) return;
    const keyframe = kind === "vp8" ? ((f.data[0] as number) & 1) === 0 : i % 30 === 0;
    const payloads =
      kind === "vp8"
        ? packetizeVp8(f.data, i & 0x7fff)
        : kind === "vp9"
          ? packetizeVp9(f.data, { pictureId: i & 0x7fff, keyframe, width: ivf?.width ?? 0, height: ivf?.height ?? 0 })
          : packetizeAv1(f.data, { newSequence: keyframe, lastWithoutLength: true });
    payloads.forEach((payload, k) => {
      const index = result.videoPackets++;
      const seq = videoSeq++ & 0xffff;
      if (opts.dropVideoPackets?.(index)) return;
      const header = new RtpHeader({
        sequenceNumber: seq,
        timestamp: (ts0 + i * 3000) >>> 0,
        payloadType: 96,
        marker: k === payloads.length - 1,
      });
      pub.videoTrack.writeRtp(new RtpPacket(header, payload));
    });
    result.videoFrames++;
  };
  const sendAudio = (j: number) => {
    const p = opus[j];
    if (!p) return;
    const header = new RtpHeader({ sequenceNumber: audioSeq++ & 0xffff, timestamp: (ts0 + j * 960) >>> 0, payloadType: 111 });
    pub.audioTrack.writeRtp(new RtpPacket(header, p));
    result.audioPackets++;
  };
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const tick = () => {
      const elapsed = (performance.now() - t0) * speed;
      const videoDue = Math.min(frames.length, Math.floor((elapsed * 30) / 1000) + 1);
      while (result.videoFrames < videoDue) sendFrame(result.videoFrames);
      const audioDue = Math.min(opus.length, Math.floor(elapsed / 20) + 1);
      while (result.audioPackets < audioDue) sendAudio(result.audioPackets);
      if (result.videoFrames >= frames.length && result.audioPackets >= opus.length) {
        clearInterval(timer);
        resolve();
      }
    };
    const timer = setInterval(tick, 5);
    tick();
  });
  return result;
}
