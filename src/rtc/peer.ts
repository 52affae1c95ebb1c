// werift peer connections set up the way a WHIP/WHEP server needs them: codecs taken from the client's offer,
// all server candidates in the answer (the server never trickles), announced IPs for NAT and containers.
import {
  RTCPeerConnection,
  RTCRtpCodecParameters,
  useSdesMid,
  useSdesRTPStreamId,
  useRepairedRtpStreamId,
  useTransportWideCC,
  useAbsSendTime,
} from "werift";
import { networkInterfaces } from "node:os";
import type { Config } from "../config.ts";
import type { CodecInfo } from "./codecs.ts";
import type { UdpMux } from "./udpMux.ts";

export interface PeerOptions {
  audio: CodecInfo | undefined;
  video: CodecInfo | undefined;
  /** Publishers get the extensions werift needs to demux simulcast and feed back congestion. */
  role: "publisher" | "viewer";
}

function feedback(fb: string): { type: string; parameter?: string } {
  const [type, parameter] = fb.split(" ");
  return parameter === undefined ? { type: type as string } : { type: type as string, parameter };
}

function toWeriftCodec(c: CodecInfo): RTCRtpCodecParameters {
  return new RTCRtpCodecParameters({
    mimeType: c.mimeType,
    clockRate: c.clockRate,
    channels: c.channels,
    payloadType: c.payloadType,
    parameters: c.fmtp === "" ? undefined : c.fmtp,
    rtcpFeedback: c.rtcpFb.map(feedback),
  });
}

let loopbackOnly: boolean | undefined;
/** werift skips loopback; a machine with no other IPv4 interface still needs one candidate clients can reach. */
function onlyLoopback(): boolean {
  loopbackOnly ??= !Object.values(networkInterfaces()).some((list) =>
    (list ?? []).some((a) => a.family === "IPv4" && !a.internal),
  );
  return loopbackOnly;
}

/** `mux`: the server's media socket, which every peer shares (its negotiations run in SessionPeer's useMux). */
export function createPeer(config: Config, opts: PeerOptions, mux?: UdpMux): RTCPeerConnection {
  const videoExt =
    opts.role === "publisher"
      ? [useSdesMid(), useSdesRTPStreamId(), useRepairedRtpStreamId(), useTransportWideCC(), useAbsSendTime()]
      : [useSdesMid()];
  return new RTCPeerConnection({
    codecs: {
      audio: opts.audio ? [toWeriftCodec(opts.audio)] : [],
      video: opts.video ? [toWeriftCodec(opts.video)] : [],
    },
    headerExtensions: {
      audio: [useSdesMid()],
      video: videoExt,
    },
    // The server needs no STUN of its own: clients reach its host (or announced) candidates.
    iceServers: [],
    iceUseIpv4: true,
    iceUseIpv6: false,
    iceAdditionalHostAddresses: onlyLoopback() ? ["127.0.0.1"] : undefined,
    // With the UDP mux every peer is on its one port, taken from the range at start; werift itself would refuse a
    // range of one port.
    icePortRange: mux ? undefined : config.rtcPortRange,
    bundlePolicy: "max-bundle",
  });
}

/** Waits until werift has gathered every local candidate, so the answer carries them all. */
export async function waitGatheringComplete(pc: RTCPeerConnection, timeoutMs = 5000): Promise<void> {
  if (pc.iceGatheringState === "complete") return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, timeoutMs);
    const sub = pc.iceGatheringStateChange.subscribe((state) => {
      if (state === "complete") done();
    });
    function done() {
      clearTimeout(timer);
      sub.unSubscribe();
      resolve();
    }
  });
}

/**
 * With ANNOUNCED_IPS, each host candidate is replaced by one per announced IP on the same port (werift binds
 * 0.0.0.0, so traffic to any of them reaches the socket). Duplicates are dropped within a media section only: an
 * answer to an offer without BUNDLE (GStreamer's default) has an ICE agent per section, all on the mux's one
 * port, and each section needs its own copy of the candidate.
 */
export function rewriteCandidates(sdp: string, announcedIps: readonly string[]): string {
  const lines = sdp.split("\r\n");
  const out: string[] = [];
  const seen = new Set<string>();
  for (const line of lines) {
    if (line.startsWith("m=")) seen.clear();
    const m = /^a=candidate:(\S+) (\d+) (udp|tcp) (\d+) (\S+) (\d+) typ host(.*)$/i.exec(line);
    if (!m) {
      out.push(line);
      continue;
    }
    if (announcedIps.length === 0) {
      out.push(line);
      continue;
    }
    const [, , component, proto, priority, , port, rest] = m;
    announcedIps.forEach((ip, i) => {
      const key = `${ip}:${port}:${proto}`;
      if (seen.has(key)) return;
      seen.add(key);
      // Foundation must differ per address; priority falls with each later IP so the first is preferred.
      const prio = Number(priority) - i;
      out.push(`a=candidate:a${i}${port} ${component} ${proto} ${prio} ${ip} ${port} typ host${rest ?? ""}`);
    });
  }
  return out.join("\r\n");
}
