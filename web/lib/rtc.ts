// WHIP and WHEP from the browser: one non-trickle offer POSTed when ICE gathering is done (roomcast answers with
// all its candidates), DELETE on the session's Location to leave.
import { authHeaders, errorFrom } from "./api.ts";

/** Gathering waits at most this long: a STUN server that does not answer must not hold up the start. */
const GATHER_TIMEOUT_MS = 2500;

export interface RemoteSession {
  /** Absolute URL of the session (the Location header). */
  location: string;
  /** The `Link` headers of the answer (ICE servers, extensions). */
  links: string;
}

function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    const timer = setTimeout(done, GATHER_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

/** Creates the offer, POSTs it to the WHIP/WHEP endpoint and applies the answer. Throws ApiError on refusal. */
export async function negotiate(pc: RTCPeerConnection, endpoint: string): Promise<RemoteSession> {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const res = await fetch(endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/sdp", ...authHeaders() },
    body: pc.localDescription?.sdp ?? "",
  });
  if (res.status !== 201) throw await errorFrom(res);
  const answer = await res.text();
  const where = res.headers.get("Location");
  if (!where) throw new Error("the server answered without a session Location");
  // The session exists on the server from here: whoever called must be able to DELETE it, even if applying fails.
  const session = { location: new URL(where, new URL(endpoint, window.location.href)).toString(), links: res.headers.get("Link") ?? "" };
  if (pc.signalingState === "closed") {
    void endSession(session);
    throw new Error("closed while negotiating");
  }
  await pc.setRemoteDescription({ type: "answer", sdp: answer });
  return session;
}

/**
 * Ends the session on the server; resolves when it has answered (or after 2 s). Close the peer after that: a peer
 * closed first says goodbye over DTLS, the server ends the session at once, and the DELETE then finds nothing.
 * `keepalive` lets the request outlive the page (pagehide). Failures are ignored: the server reaps sessions whose
 * client went away in any case.
 */
export async function endSession(session: RemoteSession, keepalive = false): Promise<void> {
  await fetch(session.location, { method: "DELETE", headers: authHeaders(), keepalive, signal: AbortSignal.timeout(2000) })
    .then(() => undefined)
    .catch(() => undefined);
}

export interface InboundSample {
  at: number;
  bytes: number;
  packets: number;
  lost: number;
  frames: number;
}

export interface InboundStats {
  width: number;
  height: number;
  fps: number;
  /** Bits per second, video and audio, since the previous sample. */
  bitrate: number;
  /** Fraction lost since the previous sample. */
  loss: number;
  rttMs: number | undefined;
  videoCodec: string;
  audioCodec: string;
  framesDecoded: number;
  sample: InboundSample;
}

/** What a viewer's peer receives, with rates since `prev`. */
export async function inboundStats(pc: RTCPeerConnection, prev: InboundSample | undefined): Promise<InboundStats> {
  const report = await pc.getStats();
  let width = 0;
  let height = 0;
  let fps = 0;
  let framesDecoded = 0;
  let bytes = 0;
  let packets = 0;
  let lost = 0;
  let rttMs: number | undefined;
  let videoCodec = "";
  let audioCodec = "";
  const codecOf = (id: unknown) => {
    const c = typeof id === "string" ? (report.get(id) as { mimeType?: string } | undefined) : undefined;
    return c?.mimeType ?? "";
  };
  report.forEach((raw: unknown) => {
    // getStats() entries are loosely typed dictionaries; read only the fields that exist.
    const s = raw as Record<string, unknown>;
    const num = (k: string) => (typeof s[k] === "number" ? (s[k] as number) : 0);
    if (s["type"] === "inbound-rtp") {
      bytes += num("bytesReceived");
      packets += num("packetsReceived");
      lost += Math.max(0, num("packetsLost"));
      if (s["kind"] === "video") {
        width = num("frameWidth");
        height = num("frameHeight");
        fps = num("framesPerSecond");
        framesDecoded = num("framesDecoded");
        videoCodec = codecOf(s["codecId"]);
      } else {
        audioCodec = codecOf(s["codecId"]);
      }
    } else if (s["type"] === "candidate-pair" && s["nominated"] === true && s["state"] === "succeeded") {
      if (typeof s["currentRoundTripTime"] === "number") rttMs = Math.round((s["currentRoundTripTime"] as number) * 1000);
    }
  });
  const now = performance.now();
  const sample: InboundSample = { at: now, bytes, packets, lost, frames: framesDecoded };
  let bitrate = 0;
  let loss = 0;
  if (prev && now > prev.at) {
    bitrate = Math.max(0, ((bytes - prev.bytes) * 8 * 1000) / (now - prev.at));
    const dPackets = Math.max(0, packets - prev.packets);
    const dLost = Math.max(0, lost - prev.lost);
    loss = dPackets + dLost > 0 ? dLost / (dPackets + dLost) : 0;
  }
  return { width, height, fps, bitrate, loss, rttMs, videoCodec, audioCodec, framesDecoded, sample };
}

export interface OutboundStats {
  width: number;
  height: number;
  fps: number;
  bitrate: number;
  rttMs: number | undefined;
  codec: string;
  /** Why the browser sends less than asked ("bandwidth", "cpu"), or "" when it does not. */
  limitedBy: string;
  sample: { at: number; bytes: number };
}

/** What a publisher's peer sends (all simulcast layers added up; the largest layer's size). */
export async function outboundStats(pc: RTCPeerConnection, prev: { at: number; bytes: number } | undefined): Promise<OutboundStats> {
  const report = await pc.getStats();
  let width = 0;
  let height = 0;
  let fps = 0;
  let bytes = 0;
  let rttMs: number | undefined;
  let codec = "";
  let limitedBy = "";
  report.forEach((raw: unknown) => {
    // As in inboundStats: loosely typed dictionaries.
    const s = raw as Record<string, unknown>;
    const num = (k: string) => (typeof s[k] === "number" ? (s[k] as number) : 0);
    if (s["type"] === "outbound-rtp") {
      bytes += num("bytesSent");
      if (s["kind"] === "video" && num("frameWidth") >= width) {
        width = num("frameWidth");
        height = num("frameHeight");
        fps = num("framesPerSecond");
        const c = typeof s["codecId"] === "string" ? (report.get(s["codecId"]) as { mimeType?: string } | undefined) : undefined;
        codec = c?.mimeType ?? codec;
        const reason = s["qualityLimitationReason"];
        if (typeof reason === "string" && reason !== "none") limitedBy = reason;
      }
    } else if (s["type"] === "candidate-pair" && s["nominated"] === true && s["state"] === "succeeded") {
      if (typeof s["currentRoundTripTime"] === "number") rttMs = Math.round((s["currentRoundTripTime"] as number) * 1000);
    }
  });
  const now = performance.now();
  const bitrate = prev && now > prev.at ? Math.max(0, ((bytes - prev.bytes) * 8 * 1000) / (now - prev.at)) : 0;
  return { width, height, fps, bitrate, rttMs, codec, limitedBy, sample: { at: now, bytes } };
}
