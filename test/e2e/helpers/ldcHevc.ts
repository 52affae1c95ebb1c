// OBS's HEVC WHIP output from libdatachannel (node-datachannel): a sendonly H265 section as addH265Codec writes it
// (no fmtp: Main, level 3.1 by RFC 7798's defaults) with the sdes:mid extension OBS sets, and Opus. The video is a
// libx265 clip (no B-frames, VPS/SPS/PPS before every IDR) packetized here by RFC 7798 (test/media/packetize.ts)
// and sent as raw RTP through a track without media handler, so the test knows every packet it sent.
import { Audio, PeerConnection, RtcpSrReporter, RtpPacketizationConfig, RtpPacketizer, Video, type Track } from "node-datachannel";
import { packetizeH265 } from "../../media/packetize.ts";
import { encodeOpusTone, isRtcp, rtcpFeedback, runFfmpeg, splitNalUnits } from "./media.ts";
import { postOffer, randomSsrc, waitConnected, waitGathered, waitTracksOpen } from "./obsClient.ts";
import { rtpPacket, URI_MID } from "./obsSimulcast.ts";

const VIDEO_PT = 96;
const AUDIO_PT = 111;
const MTU = 1200;

export interface H265Clip {
  width: number;
  height: number;
  fps: number;
  /** Access units, each its NAL units without start codes (AUD first). */
  units: Buffer[][];
  keyframes: number[];
}

const clips = new Map<string, Promise<H265Clip>>();

/** A libx265 testsrc clip as OBS encodes HEVC for WHIP: keyframe every `keyintFrames`, no B-frames, headers repeated. */
export function encodeH265Clip(opts: { width?: number; height?: number; fps?: number; keyintFrames?: number; frames?: number } = {}): Promise<H265Clip> {
  const width = opts.width ?? 640;
  const height = opts.height ?? 360;
  const fps = opts.fps ?? 30;
  const keyint = opts.keyintFrames ?? fps;
  const frames = opts.frames ?? fps * 4;
  const key = JSON.stringify([width, height, fps, keyint, frames]);
  let clip = clips.get(key);
  if (!clip) {
    clip = runFfmpeg([
      "-f", "lavfi", "-i", `testsrc=size=${width}x${height}:rate=${fps}`, "-frames:v", String(frames),
      "-pix_fmt", "yuv420p", "-c:v", "libx265", "-preset", "ultrafast",
      "-x265-params", `keyint=${keyint}:min-keyint=${keyint}:bframes=0:scenecut=0:aud=1:repeat-headers=1:log-level=error`,
      "-f", "hevc", "pipe:1",
    ]).then((annexb) => {
      const units: Buffer[][] = [];
      for (const nal of splitNalUnits(annexb)) {
        if ((((nal[0] as number) >> 1) & 0x3f) === 35 || units.length === 0) units.push([]);
        (units[units.length - 1] as Buffer[]).push(nal);
      }
      if (units.length !== frames) throw new Error(`expected ${frames} HEVC access units from ffmpeg, got ${units.length}`);
      const keyframes = units.flatMap((u, i) => (u.some((n) => { const t = ((n[0] as number) >> 1) & 0x3f; return t >= 16 && t <= 23; }) ? [i] : []));
      return { width, height, fps, units, keyframes };
    });
    clip.catch(() => clips.delete(key));
    clips.set(key, clip);
  }
  return clip;
}

export interface SentRtp {
  sequenceNumber: number;
  timestamp: number;
  marker: boolean;
  payload: Buffer;
}

export interface HevcPublisher {
  pc: PeerConnection;
  offer: string;
  answer: string;
  location: string;
  clip: H265Clip;
  /** Every video packet sent, in order. */
  sent: SentRtp[];
  framesSent: number;
  audioPacketsSent: number;
  plisReceived: number;
  /** Starts sending (from the clip's first frame, an IDR); until then the session is connected and silent. */
  start(): void;
  /** Stops sending; the session stays. */
  stop(): void;
  /** Resolves once `seconds` of media have gone out. */
  done: Promise<void>;
  close(): Promise<number | undefined>;
}

/** Connects; start() then sends `seconds` of the clip (looped) and Opus, paced in real time. */
export async function hevcPublish(
  baseUrl: string,
  room: string,
  opts: { width?: number; height?: number; fps?: number; seconds?: number; connectTimeoutMs?: number } = {},
): Promise<HevcPublisher> {
  const fps = opts.fps ?? 30;
  const [clip, opus] = await Promise.all([
    encodeH265Clip({ width: opts.width, height: opts.height, fps, keyintFrames: fps, frames: fps * 4 }),
    encodeOpusTone(6),
  ]);
  const pc = new PeerConnection("obs-hevc", { iceServers: [] });
  const states: string[] = [];
  pc.onStateChange((s) => states.push(s));
  const cname = "obs";
  const base = randomSsrc();
  const audio = new Audio("0", "SendOnly");
  audio.addOpusCodec(AUDIO_PT);
  audio.addSSRC(base, cname, "obs-stream", "obs-audio");
  const audioTrack = pc.addTrack(audio);
  const audioConfig = new RtpPacketizationConfig(base, cname, AUDIO_PT, 48_000);
  const audioPacketizer = new RtpPacketizer(audioConfig);
  audioPacketizer.addToChain(new RtcpSrReporter(audioConfig));
  audioTrack.setMediaHandler(audioPacketizer);
  const video = new Video("1", "SendOnly");
  video.addH265Codec(VIDEO_PT);
  video.parseSdpLine(`a=extmap:1 ${URI_MID}`);
  const videoSsrc = (base + 1) >>> 0;
  video.addSSRC(videoSsrc, cname, "obs-stream", "obs-video");
  const videoTrack = pc.addTrack(video);

  const timeoutMs = opts.connectTimeoutMs ?? 15_000;
  let offer: string;
  let res: { status: number; body: string; location: string | null };
  try {
    pc.setLocalDescription();
    await waitGathered(pc, 5000);
    offer = pc.localDescription()?.sdp ?? "";
    res = await postOffer(`${baseUrl}/api/whip/publish/${encodeURIComponent(room)}`, offer);
    if (res.status !== 201 || !res.location) throw new Error(`WHIP publish answered ${res.status}: ${res.body}`);
    pc.setRemoteDescription(res.body, "answer");
    await waitConnected(pc, timeoutMs, states);
    await waitTracksOpen([videoTrack, audioTrack], timeoutMs);
  } catch (err) {
    pc.close();
    throw err;
  }
  const location = new URL(res.location, baseUrl).toString();
  const totalFrames = Math.round((opts.seconds ?? 4) * fps);
  const packets = clip.units.map((u) => packetizeH265(u, MTU));
  let seq = Math.floor(Math.random() * 0xffff);
  const ts0 = randomSsrc();
  const audioTs0 = audioConfig.timestamp;
  const mid = Buffer.from("1");
  let closed = false;
  let stopped = false;
  let timer: ReturnType<typeof setInterval> | undefined;
  let finished: () => void = () => undefined;
  const done = new Promise<void>((r) => (finished = r));
  const pub: HevcPublisher = {
    pc,
    offer,
    answer: res.body,
    location,
    clip,
    sent: [],
    framesSent: 0,
    audioPacketsSent: 0,
    plisReceived: 0,
    done,
    start() {
      if (timer || closed) return;
      const t0 = performance.now();
      timer = setInterval(() => {
        if (closed || stopped || !videoTrack.isOpen()) return;
        const elapsed = performance.now() - t0;
        while (pub.framesSent < Math.min(totalFrames, Math.floor((elapsed * fps) / 1000) + 1)) sendFrame();
        while (pub.audioPacketsSent < Math.floor(elapsed / 20) + 1 && pub.framesSent < totalFrames) {
          audioConfig.timestamp = (audioTs0 + pub.audioPacketsSent * 960) >>> 0;
          send(audioTrack, opus[pub.audioPacketsSent % opus.length] as Buffer);
          pub.audioPacketsSent++;
        }
        if (pub.framesSent >= totalFrames) pub.stop();
      }, 5);
    },
    stop() {
      stopped = true;
      clearInterval(timer);
      finished();
    },
    async close() {
      if (closed) return undefined;
      closed = true;
      clearInterval(timer);
      const status = await fetch(location, { method: "DELETE" })
        .then((r) => r.status)
        .catch(() => undefined);
      pc.close();
      return status;
    },
  };
  const send = (track: Track, data: Buffer) => {
    try {
      track.sendMessageBinary(data);
    } catch {
      pub.stop();
    }
  };
  const sendFrame = () => {
    const i = pub.framesSent;
    const payloads = packets[i % packets.length] ?? [];
    const timestamp = (ts0 + Math.round((i * 90_000) / fps)) >>> 0;
    payloads.forEach((payload, k) => {
      const h = { payloadType: VIDEO_PT, sequenceNumber: seq, timestamp, ssrc: videoSsrc, marker: k === payloads.length - 1 };
      pub.sent.push({ sequenceNumber: seq, timestamp, marker: h.marker, payload });
      seq = (seq + 1) & 0xffff;
      send(videoTrack, rtpPacket(h, [[1, mid]], payload));
    });
    pub.framesSent++;
  };
  videoTrack.onMessage((msg) => {
    if (isRtcp(msg) && rtcpFeedback(msg).pli > 0) pub.plisReceived++;
  });
  return pub;
}
