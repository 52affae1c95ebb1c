// werift peers as WHIP publishers and WHEP viewers that send and check RTP with known payloads.
import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtpHeader,
  RtpPacket,
  useNACK,
  usePLI,
  useOPUS,
} from "werift";

export type VideoCodec = "VP8" | "VP9" | "AV1" | "H264" | "H265";

export function videoCodec(name: VideoCodec, profile = "42e01f"): RTCRtpCodecParameters {
  return new RTCRtpCodecParameters({
    mimeType: `video/${name}`,
    clockRate: 90000,
    rtcpFeedback: [useNACK(), usePLI()],
    parameters: name === "H264" ? `profile-level-id=${profile};packetization-mode=1;level-asymmetry-allowed=1` : undefined,
  });
}

/** "disable" offers no BUNDLE group: a transport, ICE credentials and candidates per section. */
type PeerBundlePolicy = "max-bundle" | "disable";

function newPeer(video: RTCRtpCodecParameters[], bundlePolicy: PeerBundlePolicy = "max-bundle"): RTCPeerConnection {
  return new RTCPeerConnection({
    codecs: { video, audio: [useOPUS()] },
    iceServers: [],
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ["127.0.0.1"],
    // werift's own "disable" is not in its public RTCBundlePolicy type, though the constructor takes it.
    bundlePolicy: bundlePolicy as "max-bundle",
  });
}

async function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") return;
  await new Promise<void>((res) => {
    const sub = pc.iceGatheringStateChange.subscribe((s) => {
      if (s === "complete") {
        sub.unSubscribe();
        res();
      }
    });
  });
}

export interface PostResult {
  status: number;
  location: string | null;
  body: string;
  headers: Headers;
}

export async function postSdp(url: string, sdp: string, token?: string): Promise<PostResult> {
  const headers: Record<string, string> = { "Content-Type": "application/sdp" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(url, { method: "POST", body: sdp, headers });
  return { status: res.status, location: res.headers.get("location"), body: await res.text(), headers: res.headers };
}

export async function waitConnected(pc: RTCPeerConnection, timeoutMs = 10_000): Promise<void> {
  if (pc.connectionState === "connected") return;
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`peer not connected after ${timeoutMs} ms (${pc.connectionState})`)), timeoutMs);
    const sub = pc.connectionStateChange.subscribe((s) => {
      if (s === "connected") {
        clearTimeout(timer);
        sub.unSubscribe();
        res();
      }
    });
  });
}

/** A payload whose first 4 bytes are the packet's index and the rest a pattern derived from it. */
export function testPayload(index: number, size = 300): Buffer {
  const b = Buffer.alloc(size);
  b.writeUInt32BE(index, 0);
  for (let i = 4; i < size; i++) b[i] = (index + i) & 0xff;
  return b;
}

export function checkPayload(payload: Buffer): number | undefined {
  if (payload.length < 4) return undefined;
  const index = payload.readUInt32BE(0);
  for (let i = 4; i < payload.length; i++) if (payload[i] !== ((index + i) & 0xff)) return undefined;
  return index;
}

export interface WeriftPublisher {
  pc: RTCPeerConnection;
  location: string;
  answer: string;
  sent: number;
  plisReceived: number;
  /** The tracks behind sendVideo/sendAudio, for tests that write their own RTP (real encoded media). */
  videoTrack: MediaStreamTrack;
  audioTrack: MediaStreamTrack;
  /** Sends `count` video packets of known payload, `intervalMs` apart. */
  sendVideo(count: number, intervalMs?: number): Promise<void>;
  sendAudio(count: number): void;
  /** DELETE the session (as OBS does on stop), then close the peer. */
  close(): Promise<void>;
  /** Close the peer only: werift sends no DTLS goodbye, so to the server the client just goes quiet. */
  drop(): Promise<void>;
}

export async function publish(
  base: string,
  room: string,
  opts: { codec?: VideoCodec; profile?: string; token?: string; audio?: boolean; connectTimeoutMs?: number } = {},
): Promise<WeriftPublisher> {
  const pc = newPeer([videoCodec(opts.codec ?? "VP8", opts.profile)]);
  const video = new MediaStreamTrack({ kind: "video" });
  const audio = new MediaStreamTrack({ kind: "audio" });
  const vt = pc.addTransceiver(video, { direction: "sendonly" });
  if (opts.audio !== false) pc.addTransceiver(audio, { direction: "sendonly" });
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const res = await postSdp(`${base}/api/whip/publish/${room}`, pc.localDescription!.sdp, opts.token);
  if (res.status !== 201 || !res.location) {
    await pc.close();
    throw Object.assign(new Error(`publish failed: ${res.status} ${res.body}`), { status: res.status, body: res.body });
  }
  await pc.setRemoteDescription({ type: "answer", sdp: res.body });
  await waitConnected(pc, opts.connectTimeoutMs);
  const pub: WeriftPublisher = {
    pc,
    location: new URL(res.location, base).toString(),
    answer: res.body,
    sent: 0,
    plisReceived: 0,
    videoTrack: video,
    audioTrack: audio,
    async sendVideo(count, intervalMs = 5) {
      for (let i = 0; i < count; i++) {
        const index = pub.sent++;
        const header = new RtpHeader({
          sequenceNumber: (1000 + index) & 0xffff,
          timestamp: (index * 3000) >>> 0,
          payloadType: 96,
          ssrc: 1234,
          marker: true,
        });
        video.writeRtp(new RtpPacket(header, testPayload(index)));
        if (intervalMs > 0) await new Promise((r) => setTimeout(r, intervalMs));
      }
    },
    sendAudio(count) {
      for (let i = 0; i < count; i++) {
        const header = new RtpHeader({ sequenceNumber: i, timestamp: i * 960, payloadType: 111, ssrc: 5678, marker: false });
        audio.writeRtp(new RtpPacket(header, Buffer.from([0xfc, 0xff, 0xfe, i & 0xff])));
      }
    },
    async close() {
      await fetch(pub.location, { method: "DELETE", headers: opts.token ? { Authorization: `Bearer ${opts.token}` } : {} }).catch(() => undefined);
      await pc.close().catch(() => undefined);
    },
    async drop() {
      await pc.close().catch(() => undefined);
    },
  };
  vt.sender.onPictureLossIndication.subscribe(() => pub.plisReceived++);
  return pub;
}

export interface WeriftViewer {
  pc: RTCPeerConnection;
  location: string;
  answer: string;
  /** Payload indexes in arrival order, per kind. */
  videoIndexes: number[];
  videoSeqs: number[];
  audioPackets: number;
  corrupt: number;
  payloadTypes: Set<number>;
  closedAt: number | undefined;
  /** DELETE the session, then close the peer. */
  close(): Promise<void>;
}

export async function play(
  base: string,
  room: string,
  opts: {
    codecs?: RTCRtpCodecParameters[];
    token?: string;
    connectTimeoutMs?: number;
    bundlePolicy?: PeerBundlePolicy;
    /** Sees every RTP packet as it arrives, before the helper's own counting. */
    onRtp?: (kind: string, rtp: RtpPacket) => void;
  } = {},
): Promise<WeriftViewer> {
  const pc = newPeer(opts.codecs ?? [videoCodec("VP8"), videoCodec("H264")], opts.bundlePolicy);
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const viewer: WeriftViewer = {
    pc,
    location: "",
    answer: "",
    videoIndexes: [],
    videoSeqs: [],
    audioPackets: 0,
    corrupt: 0,
    payloadTypes: new Set(),
    closedAt: undefined,
    async close() {
      if (viewer.location) {
        await fetch(viewer.location, { method: "DELETE", headers: opts.token ? { Authorization: `Bearer ${opts.token}` } : {} }).catch(() => undefined);
      }
      await pc.close().catch(() => undefined);
    },
  };
  pc.onTrack.subscribe((track) => {
    track.onReceiveRtp.subscribe((rtp) => {
      opts.onRtp?.(track.kind, rtp);
      viewer.payloadTypes.add(rtp.header.payloadType);
      if (track.kind === "audio") {
        viewer.audioPackets++;
        return;
      }
      const index = checkPayload(rtp.payload);
      if (index === undefined) viewer.corrupt++;
      else {
        viewer.videoIndexes.push(index);
        viewer.videoSeqs.push(rtp.header.sequenceNumber);
      }
    });
  });
  pc.connectionStateChange.subscribe((s) => {
    if ((s === "closed" || s === "failed" || s === "disconnected") && viewer.closedAt === undefined) viewer.closedAt = Date.now();
  });
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const res = await postSdp(`${base}/api/whep/play/${room}`, pc.localDescription!.sdp, opts.token);
  if (res.status !== 201 || !res.location) {
    await pc.close();
    throw Object.assign(new Error(`play failed: ${res.status} ${res.body}`), { status: res.status, body: res.body });
  }
  viewer.location = new URL(res.location, base).toString();
  viewer.answer = res.body;
  await pc.setRemoteDescription({ type: "answer", sdp: res.body });
  await waitConnected(pc, opts.connectTimeoutMs);
  // werift leaves connectionState alone when the remote sends a DTLS close_notify; its DTLS transport does close.
  for (const t of pc.dtlsTransports) {
    t.onStateChange.subscribe((s) => {
      if (s === "closed" && viewer.closedAt === undefined) viewer.closedAt = Date.now();
    });
  }
  return viewer;
}

/** An offer werift would build for a publisher, without any network: for status-code tests. */
export async function publisherOffer(codec: VideoCodec = "VP8"): Promise<string> {
  const pc = newPeer([videoCodec(codec)]);
  pc.addTransceiver(new MediaStreamTrack({ kind: "video" }), { direction: "sendonly" });
  pc.addTransceiver(new MediaStreamTrack({ kind: "audio" }), { direction: "sendonly" });
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const sdp = pc.localDescription!.sdp;
  await pc.close();
  return sdp;
}

export async function viewerOffer(): Promise<string> {
  const pc = newPeer([videoCodec("VP8"), videoCodec("H264")]);
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const sdp = pc.localDescription!.sdp;
  await pc.close();
  return sdp;
}
