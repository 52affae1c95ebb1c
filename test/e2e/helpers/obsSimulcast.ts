// OBS 32.1+'s simulcast WHIP output, from libdatachannel (node-datachannel): one sendonly H264 video section with
// `a=extmap:1 …sdes:mid`, `a=extmap:2 …sdes:rtp-stream-id`, `a=rid:0 send` … `a=simulcast:send 0;1;2` (rid 0 the full
// size, each next one smaller, as OBS scales them) and no a=ssrc lines (libdatachannel leaves them out once a section
// has rids), plus Opus. Each layer is its own x264 encoding and its own SSRC (OBS: base + 1 + index); every packet
// carries the mid and the rid in one-byte header extensions, in that order, as libdatachannel's RtpPacketizer writes
// them. node-datachannel does not expose the packetizer's rid, so the RTP is made here (RFC 6184 via the test
// packetizer) and sent through a track without a media handler, which libdatachannel sends as it is.
import { Audio, PeerConnection, RtcpSrReporter, RtpPacketizationConfig, RtpPacketizer, Video, type Track } from "node-datachannel";
import { packetizeH264 } from "../../media/packetize.ts";
import { encodeH264Clip, encodeOpusTone, isRtcp, rtcpFeedback, splitNalUnits, type H264Clip } from "./media.ts";
import { OBS_H264_FMTP, postOffer, randomSsrc, waitConnected, waitGathered, waitTracksOpen } from "./obsClient.ts";

export const URI_MID = "urn:ietf:params:rtp-hdrext:sdes:mid";
export const URI_RID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";
const VIDEO_PT = 96;
const AUDIO_PT = 111;
const VIDEO_MID = "1";
/** OBS's MAX_VIDEO_FRAGMENT_SIZE. */
const MTU = 1200;

export interface SimulcastLayerSpec {
  rid: string;
  width: number;
  height: number;
}

/** OBS's layer sizes for N layers of a 1280x720 output: width/N steps, even numbers, rid 0 the largest. */
export function obsLayers(count: 2 | 3 | 4, width = 1280, height = 720): SimulcastLayerSpec[] {
  const out: SimulcastLayerSpec[] = [];
  for (let i = 0; i < count; i++) {
    const w = Math.floor((width / count) * (count - i));
    const h = Math.floor((height / count) * (count - i));
    out.push({ rid: String(i), width: w - (w % 2), height: h - (h % 2) });
  }
  return out;
}

export interface ObsSimulcastOptions {
  layers?: SimulcastLayerSpec[];
  fps?: number;
  keyframeIntervalSec?: number;
  audio?: boolean;
  /** Header extension ids (OBS: mid 1, rid 2). */
  midId?: number;
  ridId?: number;
  /** Leave the mid extension out of the packets (and its extmap out of the offer). */
  noMidExtension?: boolean;
  /**
   * Declare the first layer's SSRC with a=ssrc lines, as OBS's addSSRC asks and libdatachannel versions that keep
   * them beside rids write it: a receiver that demuxes by SSRC first puts that layer on the track without a rid.
   */
  declareFirstSsrc?: boolean;
  connectTimeoutMs?: number;
}

export interface ObsSimulcastLayer extends SimulcastLayerSpec {
  ssrc: number;
  clip: H264Clip;
  packetsSent: number;
}

export interface ObsSimulcastPublisher {
  pc: PeerConnection;
  offer: string;
  answer: string;
  location: string;
  layers: ObsSimulcastLayer[];
  framesSent: number;
  plisReceived: number;
  close(): Promise<number | undefined>;
}

/** An RTP packet with RFC 8285 one-byte header extensions, in the order given. */
export function rtpPacket(
  h: { payloadType: number; sequenceNumber: number; timestamp: number; ssrc: number; marker: boolean },
  extensions: readonly [number, Buffer][],
  payload: Buffer,
): Buffer {
  const elements = extensions.map(([id, data]) => Buffer.concat([Buffer.from([(id << 4) | (data.length - 1)]), data]));
  const extLength = elements.reduce((n, e) => n + e.length, 0);
  const words = Math.ceil(extLength / 4);
  const header = Buffer.alloc(12 + (extensions.length > 0 ? 4 + words * 4 : 0));
  header[0] = 0x80 | (extensions.length > 0 ? 0x10 : 0);
  header[1] = (h.marker ? 0x80 : 0) | h.payloadType;
  header.writeUInt16BE(h.sequenceNumber & 0xffff, 2);
  header.writeUInt32BE(h.timestamp >>> 0, 4);
  header.writeUInt32BE(h.ssrc >>> 0, 8);
  if (extensions.length > 0) {
    header.writeUInt16BE(0xbede, 12);
    header.writeUInt16BE(words, 14);
    let at = 16;
    for (const e of elements) {
      e.copy(header, at);
      at += e.length;
    }
  }
  return Buffer.concat([header, payload]);
}

/** Publishes like OBS's simulcast WHIP output; resolves once connected and streaming. */
export async function obsSimulcastPublish(baseUrl: string, room: string, opts: ObsSimulcastOptions = {}): Promise<ObsSimulcastPublisher> {
  const specs = opts.layers ?? obsLayers(3);
  const fps = opts.fps ?? 30;
  const keyint = Math.round((opts.keyframeIntervalSec ?? 1) * fps);
  const midId = opts.midId ?? 1;
  const ridId = opts.ridId ?? 2;
  const withAudio = opts.audio !== false;
  // Same frame count and keyframe cadence in every layer: a keyframe request moves them all to the same IDR.
  const [clips, opus] = await Promise.all([
    Promise.all(specs.map((s) => encodeH264Clip({ width: s.width, height: s.height, fps, keyintFrames: keyint, frames: keyint * 3 }))),
    withAudio ? encodeOpusTone(6) : Promise.resolve([] as Buffer[]),
  ]);

  const pc = new PeerConnection("obs-simulcast", { iceServers: [] });
  const states: string[] = [];
  pc.onStateChange((s) => states.push(s));
  const cname = "obs";
  const baseSsrc = randomSsrc();

  let audioTrack: Track | undefined;
  let audioConfig: RtpPacketizationConfig | undefined;
  if (withAudio) {
    const audio = new Audio("0", "SendOnly");
    audio.addOpusCodec(AUDIO_PT);
    audio.addSSRC(baseSsrc, cname, "obs-stream", "obs-audio");
    audioTrack = pc.addTrack(audio);
    audioConfig = new RtpPacketizationConfig(baseSsrc, cname, AUDIO_PT, 48_000);
    const packetizer = new RtpPacketizer(audioConfig);
    packetizer.addToChain(new RtcpSrReporter(audioConfig));
    audioTrack.setMediaHandler(packetizer);
  }
  const video = new Video(VIDEO_MID, "SendOnly");
  video.addH264Codec(VIDEO_PT, OBS_H264_FMTP);
  if (!opts.noMidExtension) video.parseSdpLine(`a=extmap:${midId} ${URI_MID}`);
  video.parseSdpLine(`a=extmap:${ridId} ${URI_RID}`);
  if (opts.declareFirstSsrc) video.addSSRC((baseSsrc + 1) >>> 0, cname, "obs-stream", "obs-video");
  else video.parseSdpLine("a=msid:obs-stream obs-video");
  for (const s of specs) video.parseSdpLine(`a=rid:${s.rid} send`);
  video.parseSdpLine(`a=simulcast:send ${specs.map((s) => s.rid).join(";")}`);
  const videoTrack = pc.addTrack(video);

  const layers: ObsSimulcastLayer[] = specs.map((s, i) => ({ ...s, ssrc: (baseSsrc + 1 + i) >>> 0, clip: clips[i] as H264Clip, packetsSent: 0 }));
  const connectTimeoutMs = opts.connectTimeoutMs ?? 15_000;
  let offer: string;
  let res: { status: number; body: string; location: string | null };
  try {
    pc.setLocalDescription();
    await waitGathered(pc, 5000);
    offer = pc.localDescription()?.sdp ?? "";
    res = await postOffer(`${baseUrl}/api/whip/publish/${encodeURIComponent(room)}`, offer, undefined);
    if (res.status !== 201 || !res.location) throw new Error(`WHIP publish answered ${res.status}: ${res.body}`);
    pc.setRemoteDescription(res.body, "answer");
    await waitConnected(pc, connectTimeoutMs, states);
    await waitTracksOpen([videoTrack, audioTrack], connectTimeoutMs);
  } catch (err) {
    pc.close();
    throw err;
  }
  const location = new URL(res.location, baseUrl).toString();

  const seqs = layers.map(() => Math.floor(Math.random() * 0xffff));
  const ts0 = layers.map(() => randomSsrc());
  const audioTs0 = audioConfig?.timestamp ?? 0;
  const mid = Buffer.from(VIDEO_MID);
  const rids = layers.map((l) => Buffer.from(l.rid));
  const frames = clips.map((c) => c.units.map((u) => packetizeH264(splitNalUnits(u.data), MTU)));
  let position = 0;
  let keyframeWanted = false;
  let closed = false;
  let audioSent = 0;
  const pub: ObsSimulcastPublisher = {
    pc,
    offer,
    answer: res.body,
    location,
    layers,
    framesSent: 0,
    plisReceived: 0,
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
      clearInterval(timer);
    }
  };
  const sendFrame = () => {
    if (keyframeWanted) {
      keyframeWanted = false;
      while (!clips[0]?.units[position]?.keyframe) position = (position + 1) % (clips[0]?.units.length ?? 1);
    }
    layers.forEach((layer, i) => {
      const payloads = frames[i]?.[position % (frames[i]?.length ?? 1)] ?? [];
      const timestamp = ((ts0[i] as number) + Math.round((pub.framesSent * 90_000) / fps)) >>> 0;
      payloads.forEach((payload, k) => {
        const extensions: [number, Buffer][] = opts.noMidExtension ? [[ridId, rids[i] as Buffer]] : [[midId, mid], [ridId, rids[i] as Buffer]];
        const packet = rtpPacket(
          { payloadType: VIDEO_PT, sequenceNumber: seqs[i] as number, timestamp, ssrc: layer.ssrc, marker: k === payloads.length - 1 },
          extensions,
          payload,
        );
        seqs[i] = ((seqs[i] as number) + 1) & 0xffff;
        layer.packetsSent++;
        send(videoTrack, packet);
      });
    });
    position = (position + 1) % (clips[0]?.units.length ?? 1);
    pub.framesSent++;
  };
  const t0 = performance.now();
  const timer = setInterval(() => {
    if (closed || !videoTrack.isOpen()) return;
    const elapsed = performance.now() - t0;
    while (pub.framesSent < Math.floor((elapsed * fps) / 1000) + 1) sendFrame();
    while (audioTrack && audioConfig && opus.length > 0 && audioSent < Math.floor(elapsed / 20) + 1) {
      audioConfig.timestamp = (audioTs0 + audioSent * 960) >>> 0;
      send(audioTrack, opus[audioSent % opus.length] as Buffer);
      audioSent++;
    }
  }, 5);
  videoTrack.onMessage((msg) => {
    if (!isRtcp(msg)) return;
    const fb = rtcpFeedback(msg);
    if (fb.pli + fb.fir > 0) {
      pub.plisReceived++;
      keyframeWanted = true;
    }
  });
  return pub;
}
