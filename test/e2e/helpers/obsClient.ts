// libdatachannel (node-datachannel), the WebRTC stack inside OBS Studio, as an OBS-like WHIP publisher: one POST
// with a complete offer (sendonly H264 Constrained Baseline packetization-mode=1 + Opus, all candidates, no
// trickle), the answer set, then a real x264 stream (SPS/PPS repeated, no B-frames, fixed keyframe interval) and
// Opus packetized by libdatachannel's H264RtpPacketizer / RtpPacketizer with RTCP sender reports and NACK
// answers, paced in real time. Also a libdatachannel WHEP viewer that counts what arrives.
import {
  Audio,
  H264RtpPacketizer,
  PeerConnection,
  RtcpNackResponder,
  RtcpReceivingSession,
  RtcpSrReporter,
  RtpPacketizationConfig,
  RtpPacketizer,
  Video,
  type Track,
} from "node-datachannel";
import { encodeH264Clip, encodeOpusTone, h264PayloadNalTypes, isRtcp, rtcpFeedback, type H264Clip } from "./media.ts";

export const OBS_H264_FMTP = "profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1";

/** profile-level-id (level 3.1) per x264 profile, for the offer's fmtp. */
const PROFILE_LEVEL_ID = { baseline: "42e01f", main: "4d001f", high: "64001f" } as const;
const VIDEO_PT = 96;
const AUDIO_PT = 111;

export interface ObsPublishOptions {
  /** Seconds between IDRs, as OBS's "Keyframe Interval" (default 2). */
  keyframeIntervalSec?: number;
  /**
   * Like OBS (see shared/PROTOCOL.md), do not answer PLI/FIR with a keyframe: viewers wait for the scheduled one.
   * Off by default, where a keyframe request makes the next frame sent an IDR (the stream skips ahead to the
   * clip's next IDR, so the bitstream stays valid).
   */
  ignorePli?: boolean;
  fps?: number;
  width?: number;
  height?: number;
  /** Length of the clip that is looped; rounded up to whole GOPs (default 6 s, at least 2 GOPs). */
  clipSec?: number;
  audio?: boolean;
  /** x264 profile of the stream (default baseline, i.e. Constrained Baseline); OBS's own default is high. */
  h264Profile?: "baseline" | "main" | "high";
  /** fmtp of the offered H264 codec; by default OBS's, with the profile-level-id of h264Profile. */
  h264Fmtp?: string;
  token?: string;
  /** Start sending media once connected (default true); otherwise call start(). */
  autoStart?: boolean;
  connectTimeoutMs?: number;
}

export interface ObsPublisher {
  pc: PeerConnection;
  offer: string;
  answer: string;
  location: string;
  clip: H264Clip;
  framesSent: number;
  keyframesSent: number;
  /** IDRs sent because of a keyframe request (always 0 with ignorePli). */
  keyframesOnRequest: number;
  audioPacketsSent: number;
  /** Date.now() of every IDR sent, scheduled or answering a request. */
  keyframeTimes: number[];
  /** Date.now() of every PLI or FIR received. */
  keyframeRequestTimes: number[];
  plisReceived: number;
  firsReceived: number;
  nacksReceived: number;
  /** Why sending stopped on its own (the server closed the session, a send failed); undefined while streaming. */
  stoppedBy: string | undefined;
  start(): void;
  /** Stops media, DELETEs the session (unless `delete: false`) and closes the peer. Returns the DELETE status. */
  close(opts?: { delete?: boolean }): Promise<number | undefined>;
}

export function waitGathered(pc: PeerConnection, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (pc.gatheringState() === "complete") return resolve();
    const timer = setTimeout(() => reject(new Error(`libdatachannel did not finish gathering in ${timeoutMs} ms`)), timeoutMs);
    pc.onGatheringStateChange((state) => {
      if (state === "complete") {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

export function waitConnected(pc: PeerConnection, timeoutMs: number, states: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const check = () => {
      const s = pc.state();
      if (s === "connected") return resolve();
      if (s === "failed" || s === "closed") return reject(new Error(`libdatachannel peer ${s} (states: ${states.join(" → ")})`));
      if (Date.now() - started > timeoutMs) {
        return reject(new Error(`libdatachannel peer not connected after ${timeoutMs} ms (states: ${states.join(" → ")})`));
      }
      setTimeout(check, 25);
    };
    check();
  });
}

export function waitTracksOpen(tracks: (Track | undefined)[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const check = () => {
      if (tracks.every((t) => t === undefined || t.isOpen())) return resolve();
      if (Date.now() - started > timeoutMs) return reject(new Error(`libdatachannel tracks not open after ${timeoutMs} ms`));
      setTimeout(check, 10);
    };
    check();
  });
}

export async function postOffer(url: string, sdp: string, token?: string): Promise<{ status: number; body: string; location: string | null }> {
  const headers: Record<string, string> = { "Content-Type": "application/sdp" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(url, { method: "POST", body: sdp, headers });
  return { status: res.status, body: await res.text(), location: res.headers.get("location") };
}

export function randomSsrc(): number {
  return (Math.floor(Math.random() * 0xfffffff0) + 1) >>> 0;
}

/** Publishes to `room` like OBS's WHIP output; resolves once connected (and streaming, unless autoStart is false). */
export async function obsPublish(baseUrl: string, room: string, opts: ObsPublishOptions = {}): Promise<ObsPublisher> {
  const fps = opts.fps ?? 30;
  const keyint = Math.max(1, Math.round((opts.keyframeIntervalSec ?? 2) * fps));
  const clipFrames = Math.max(Math.round((opts.clipSec ?? 6) * fps), 2 * keyint);
  const withAudio = opts.audio !== false;
  const [clip, opus] = await Promise.all([
    encodeH264Clip({
      width: opts.width ?? 640,
      height: opts.height ?? 360,
      fps,
      keyintFrames: keyint,
      frames: clipFrames,
      profile: opts.h264Profile ?? "baseline",
    }),
    withAudio ? encodeOpusTone(6) : Promise.resolve([] as Buffer[]),
  ]);

  const pc = new PeerConnection("obs-whip", { iceServers: [] });
  const states: string[] = [];
  pc.onStateChange((s) => states.push(s));
  const cname = "obs";
  const videoSsrc = randomSsrc();
  const video = new Video("0", "SendOnly");
  const profile = opts.h264Profile ?? "baseline";
  video.addH264Codec(VIDEO_PT, opts.h264Fmtp ?? OBS_H264_FMTP.replace("42e01f", PROFILE_LEVEL_ID[profile]));
  video.addSSRC(videoSsrc, cname, "obs-stream", "obs-video");
  const videoTrack = pc.addTrack(video);
  const videoConfig = new RtpPacketizationConfig(videoSsrc, cname, VIDEO_PT, 90_000);
  const packetizer = new H264RtpPacketizer("StartSequence", videoConfig);
  packetizer.addToChain(new RtcpSrReporter(videoConfig));
  packetizer.addToChain(new RtcpNackResponder());
  videoTrack.setMediaHandler(packetizer);

  let audioTrack: Track | undefined;
  let audioConfig: RtpPacketizationConfig | undefined;
  if (withAudio) {
    const audioSsrc = randomSsrc();
    const audio = new Audio("1", "SendOnly");
    audio.addOpusCodec(AUDIO_PT);
    audio.addSSRC(audioSsrc, cname, "obs-stream", "obs-audio");
    audioTrack = pc.addTrack(audio);
    audioConfig = new RtpPacketizationConfig(audioSsrc, cname, AUDIO_PT, 48_000);
    const audioPacketizer = new RtpPacketizer(audioConfig);
    audioPacketizer.addToChain(new RtcpSrReporter(audioConfig));
    audioTrack.setMediaHandler(audioPacketizer);
  }

  const connectTimeoutMs = opts.connectTimeoutMs ?? 15_000;
  let offer: string;
  let res: { status: number; body: string; location: string | null };
  try {
    pc.setLocalDescription();
    await waitGathered(pc, 5000);
    offer = pc.localDescription()?.sdp ?? "";
    res = await postOffer(`${baseUrl}/api/whip/publish/${encodeURIComponent(room)}`, offer, opts.token);
    if (res.status !== 201 || !res.location) {
      throw Object.assign(new Error(`WHIP publish answered ${res.status}: ${res.body}`), { status: res.status, body: res.body });
    }
    pc.setRemoteDescription(res.body, "answer");
    await waitConnected(pc, connectTimeoutMs, states);
    // "connected" can come a moment before the tracks open (SRTP set up); sending before that throws.
    await waitTracksOpen([videoTrack, audioTrack], connectTimeoutMs);
  } catch (err) {
    pc.close();
    throw err;
  }
  const location = new URL(res.location, baseUrl).toString();

  let timer: ReturnType<typeof setInterval> | undefined;
  let closed = false;
  let deleted = false;
  let keyframeWanted = false;
  let position = 0;
  const videoTs0 = videoConfig.timestamp;
  const audioTs0 = audioConfig?.timestamp ?? 0;
  const frameTicks = 90_000 / fps;

  const pub: ObsPublisher = {
    pc,
    offer,
    answer: res.body,
    location,
    clip,
    framesSent: 0,
    keyframesSent: 0,
    keyframesOnRequest: 0,
    audioPacketsSent: 0,
    keyframeTimes: [],
    keyframeRequestTimes: [],
    plisReceived: 0,
    firsReceived: 0,
    nacksReceived: 0,
    stoppedBy: undefined,
    start() {
      if (timer || closed) return;
      const t0 = performance.now();
      const sendVideo = () => {
        if (keyframeWanted) {
          keyframeWanted = false;
          // An encoder would make the next picture an IDR; from a clip, skip ahead to its next IDR.
          while (!clip.units[position]?.keyframe) position = (position + 1) % clip.units.length;
          pub.keyframesOnRequest++;
        }
        const unit = clip.units[position];
        position = (position + 1) % clip.units.length;
        if (!unit) return;
        videoConfig.timestamp = (videoTs0 + Math.round(pub.framesSent * frameTicks)) >>> 0;
        send(videoTrack, unit.data);
        pub.framesSent++;
        if (unit.keyframe) {
          pub.keyframesSent++;
          pub.keyframeTimes.push(Date.now());
        }
      };
      const sendAudio = () => {
        if (!audioTrack || !audioConfig || opus.length === 0) return;
        const packet = opus[pub.audioPacketsSent % opus.length];
        if (!packet) return;
        audioConfig.timestamp = (audioTs0 + pub.audioPacketsSent * 960) >>> 0;
        send(audioTrack, packet);
        pub.audioPacketsSent++;
      };
      // One clock for both: every frame and packet that is due goes out, so a stalled event loop catches up
      // (frames late, never dropped: dropping a P-frame would corrupt the picture until the next IDR).
      const tick = () => {
        if (closed || pub.stoppedBy !== undefined) return;
        if (!videoTrack.isOpen() || (audioTrack !== undefined && !audioTrack.isOpen())) {
          // The server ended the session (or the transport died): stop, as OBS's output does.
          stop("track closed");
          return;
        }
        const elapsed = performance.now() - t0;
        const videoDue = Math.floor((elapsed * fps) / 1000) + 1;
        while (pub.framesSent < videoDue && pub.stoppedBy === undefined) sendVideo();
        const audioDue = Math.floor(elapsed / 20) + 1;
        while (withAudio && pub.audioPacketsSent < audioDue && pub.stoppedBy === undefined) sendAudio();
      };
      const stop = (reason: string) => {
        pub.stoppedBy ??= reason;
        if (timer) clearInterval(timer);
      };
      const send = (track: Track, data: Buffer) => {
        try {
          track.sendMessageBinary(data);
        } catch (err) {
          stop(String(err));
        }
      };
      timer = setInterval(tick, 5);
      tick();
    },
    async close(closeOpts = {}) {
      if (closed) return undefined;
      closed = true;
      if (timer) clearInterval(timer);
      let status: number | undefined;
      if (closeOpts.delete !== false && !deleted) {
        deleted = true;
        const headers: Record<string, string> = {};
        if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
        status = await fetch(location, { method: "DELETE", headers })
          .then((r) => r.status)
          .catch(() => undefined);
      }
      pc.close();
      return status;
    },
  };

  // Each RTCP compound packet reaches the track twice here (a few ms apart): identical ones within 100 ms count once.
  let lastRtcp: { hex: string; at: number } | undefined;
  videoTrack.onMessage((msg) => {
    if (!isRtcp(msg)) return;
    const hex = msg.toString("hex");
    const now = Date.now();
    if (lastRtcp && lastRtcp.hex === hex && now - lastRtcp.at < 100) return;
    lastRtcp = { hex, at: now };
    const fb = rtcpFeedback(msg);
    pub.plisReceived += fb.pli;
    pub.firsReceived += fb.fir;
    pub.nacksReceived += fb.nack;
    if (fb.pli + fb.fir > 0) {
      pub.keyframeRequestTimes.push(now);
      if (!opts.ignorePli) keyframeWanted = true;
    }
  });
  if (opts.autoStart !== false) pub.start();
  return pub;
}

export interface LdcViewer {
  pc: PeerConnection;
  answer: string;
  location: string;
  videoPackets: number;
  audioPackets: number;
  videoPayloadTypes: Set<number>;
  audioPayloadTypes: Set<number>;
  /** NAL unit types seen in the video payloads (7 SPS, 8 PPS, 5 IDR, 1 non-IDR slice). */
  nalTypes: Set<number>;
  /** Sends a PLI for the video track, as a decoder that lost its picture does; false while the track is not open. */
  requestKeyframe(): boolean;
  close(opts?: { delete?: boolean }): Promise<number | undefined>;
  /** Held on purpose: node-datachannel stops delivering a track's packets once its JS object is collected. */
  readonly tracks: readonly Track[];
}

/** A libdatachannel WHEP viewer offering H264 (OBS's fmtp) and Opus, recvonly; counts the RTP that arrives. */
export async function ldcPlay(baseUrl: string, room: string, opts: { token?: string; connectTimeoutMs?: number } = {}): Promise<LdcViewer> {
  const pc = new PeerConnection("ldc-whep", { iceServers: [] });
  const states: string[] = [];
  pc.onStateChange((s) => states.push(s));
  const video = new Video("0", "RecvOnly");
  video.addH264Codec(VIDEO_PT, OBS_H264_FMTP);
  const videoTrack = pc.addTrack(video);
  videoTrack.setMediaHandler(new RtcpReceivingSession());
  const audio = new Audio("1", "RecvOnly");
  audio.addOpusCodec(AUDIO_PT);
  const audioTrack = pc.addTrack(audio);
  audioTrack.setMediaHandler(new RtcpReceivingSession());

  let closed = false;
  const viewer: LdcViewer = {
    pc,
    answer: "",
    location: "",
    videoPackets: 0,
    audioPackets: 0,
    videoPayloadTypes: new Set(),
    audioPayloadTypes: new Set(),
    nalTypes: new Set(),
    tracks: [videoTrack, audioTrack],
    // node-datachannel does not catch libdatachannel's "Track is not open" here: on a track that is not open (yet, or
    // any more) it aborts the whole test process instead of throwing, so ask only while the track is open.
    requestKeyframe: () => videoTrack.isOpen() && videoTrack.requestKeyframe(),
    async close(closeOpts = {}) {
      if (closed) return undefined;
      closed = true;
      let status: number | undefined;
      if (closeOpts.delete !== false && viewer.location) {
        const headers: Record<string, string> = {};
        if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
        status = await fetch(viewer.location, { method: "DELETE", headers })
          .then((r) => r.status)
          .catch(() => undefined);
      }
      pc.close();
      return status;
    },
  };
  videoTrack.onMessage((msg) => {
    if (isRtcp(msg) || msg.length < 12) return;
    viewer.videoPackets++;
    viewer.videoPayloadTypes.add((msg[1] ?? 0) & 0x7f);
    const csrcs = (msg[0] ?? 0) & 0x0f;
    let offset = 12 + csrcs * 4;
    if (((msg[0] ?? 0) & 0x10) !== 0 && offset + 4 <= msg.length) offset += 4 + msg.readUInt16BE(offset + 2) * 4;
    for (const t of h264PayloadNalTypes(msg.subarray(offset))) viewer.nalTypes.add(t);
  });
  audioTrack.onMessage((msg) => {
    if (isRtcp(msg) || msg.length < 12) return;
    viewer.audioPackets++;
    viewer.audioPayloadTypes.add((msg[1] ?? 0) & 0x7f);
  });

  try {
    pc.setLocalDescription();
    await waitGathered(pc, 5000);
    const res = await postOffer(`${baseUrl}/api/whep/play/${encodeURIComponent(room)}`, pc.localDescription()?.sdp ?? "", opts.token);
    if (res.status !== 201 || !res.location) {
      throw Object.assign(new Error(`WHEP play answered ${res.status}: ${res.body}`), { status: res.status, body: res.body });
    }
    viewer.answer = res.body;
    viewer.location = new URL(res.location, baseUrl).toString();
    pc.setRemoteDescription(res.body, "answer");
    await waitConnected(pc, opts.connectTimeoutMs ?? 15_000, states);
    // "connected" can come a moment before the video track opens, and requestKeyframe needs it open. (Not audio:
    // a room without audio leaves that track closed.)
    await waitTracksOpen([videoTrack], opts.connectTimeoutMs ?? 15_000);
  } catch (err) {
    pc.close();
    throw err;
  }
  return viewer;
}
