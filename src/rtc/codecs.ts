// Codec choice. werift matches H264 by exact profile-level-id, which would refuse OBS's High profile or a level
// that differs from ours, so the server builds each peer's codec list from the client's own offer: the publisher
// keeps what it offered first among what we forward, and a viewer gets the entry of its offer that decodes what the
// publisher actually sends.
import { fmtpParams, type MediaKind, type OfferedCodec, type OfferedMedia } from "./sdp.ts";

/** What a publisher sends on one track, as the server forwards it. */
export interface CodecInfo {
  kind: MediaKind;
  /** e.g. "video/H264", "audio/opus" */
  mimeType: string;
  clockRate: number;
  channels: number | undefined;
  payloadType: number;
  fmtp: string;
  rtcpFb: string[];
}

const FORWARDABLE: Record<MediaKind, readonly string[]> = {
  audio: ["opus"],
  video: ["vp8", "vp9", "h264", "av1", "h265"],
};

/** Feedback werift implements; anything else offered is left out of the answer. */
const SUPPORTED_FB = new Set(["nack", "nack pli", "ccm fir", "goog-remb", "transport-cc"]);

/** Canonical spellings, so the API and logs say "audio/opus" whatever case a client wrote. */
const CANONICAL: Record<string, string> = { opus: "opus", vp8: "VP8", vp9: "VP9", h264: "H264", av1: "AV1", h265: "H265" };

function toInfo(kind: MediaKind, c: OfferedCodec, feedback: readonly string[]): CodecInfo {
  return {
    kind,
    mimeType: `${kind}/${CANONICAL[c.name.toLowerCase()] ?? c.name}`,
    clockRate: c.clockRate,
    channels: c.channels,
    payloadType: c.payloadType,
    fmtp: c.fmtp,
    rtcpFb: c.rtcpFb.filter((fb) => feedback.includes(fb)),
  };
}

export function codecName(mimeType: string): string {
  return (mimeType.split("/")[1] ?? "").toLowerCase();
}

/** The first codec in the publisher's order of preference that we forward; H264 prefers packetization-mode=1. */
export function choosePublisherCodec(media: OfferedMedia): CodecInfo | undefined {
  if (media.kind !== "audio" && media.kind !== "video") return undefined;
  const kind = media.kind;
  const allowed = FORWARDABLE[kind];
  const candidates = media.codecs.filter((c) => allowed.includes(c.name.toLowerCase()));
  const h264Mode1 = candidates.find(
    (c) => c.name.toLowerCase() === "h264" && fmtpParams(c.fmtp).get("packetization-mode") === "1",
  );
  const first = candidates[0];
  if (!first) return undefined;
  const chosen = first.name.toLowerCase() === "h264" && h264Mode1 ? h264Mode1 : first;
  return toInfo(kind, chosen, [...SUPPORTED_FB]);
}

interface H264Profile {
  profileIdc: number;
  constrained: boolean;
  packetizationMode: string;
}

function h264Profile(fmtp: string): H264Profile {
  const p = fmtpParams(fmtp);
  const pli = (p.get("profile-level-id") ?? "42001f").toLowerCase();
  const idc = Number.parseInt(pli.slice(0, 2), 16);
  const iop = Number.parseInt(pli.slice(2, 4), 16);
  return {
    profileIdc: Number.isNaN(idc) ? 0x42 : idc,
    // constraint_set1 on Baseline means Constrained Baseline, the profile Safari and hardware decoders insist on.
    constrained: !Number.isNaN(iop) && (iop & 0x40) !== 0,
    packetizationMode: p.get("packetization-mode") ?? "0",
  };
}

function h264Score(source: H264Profile, candidate: H264Profile): number {
  if (source.packetizationMode !== candidate.packetizationMode) return -1;
  if (source.profileIdc === candidate.profileIdc) return source.constrained === candidate.constrained ? 3 : 2;
  // A Constrained Baseline stream is valid for every H264 decoder profile.
  if (source.profileIdc === 0x42 && source.constrained) return 1;
  return 0;
}

interface H265Profile {
  profileSpace: number;
  profileId: number;
  tier: number;
  level: number;
}

/** RFC 7798 §7.1's fmtp with its defaults: profile-space 0, profile-id 1 (Main), tier-flag 0, level-id 93 (3.1). */
function h265Profile(fmtp: string): H265Profile {
  const p = fmtpParams(fmtp);
  const num = (key: string, fallback: number) => {
    const v = Number.parseInt(p.get(key) ?? "", 10);
    return Number.isNaN(v) ? fallback : v;
  };
  return { profileSpace: num("profile-space", 0), profileId: num("profile-id", 1), tier: num("tier-flag", 0), level: num("level-id", 93) };
}

/**
 * Whether an H265 entry a viewer offers decodes the publisher's stream: same profile, and a tier and level at least
 * the stream's (for a receiver, level-id is the highest level it decodes, RFC 7798 §7.2.2). Among those, the one
 * nearest the stream's level.
 */
function h265Score(source: H265Profile, candidate: H265Profile): number {
  if (candidate.profileSpace !== source.profileSpace || candidate.profileId !== source.profileId) return -1;
  if (candidate.tier < source.tier || (candidate.tier === source.tier && candidate.level < source.level)) return -1;
  return 1000 - Math.min(999, candidate.level - source.level);
}

function vp9Profile(fmtp: string): string {
  return fmtpParams(fmtp).get("profile-id") ?? "0";
}

/**
 * The viewer-side codec for a publisher track: same codec and clock, the viewer's payload type and fmtp (so werift
 * answers with exactly that entry). Undefined when the viewer cannot decode the track.
 */
export function chooseViewerCodec(source: CodecInfo, media: OfferedMedia): CodecInfo | undefined {
  if (media.kind !== source.kind) return undefined;
  const name = codecName(source.mimeType);
  const same = media.codecs.filter((c) => c.name.toLowerCase() === name && c.clockRate === source.clockRate);
  let best: OfferedCodec | undefined;
  if (name === "h264") {
    const src = h264Profile(source.fmtp);
    let bestScore = -1;
    for (const c of same) {
      const s = h264Score(src, h264Profile(c.fmtp));
      if (s > bestScore) {
        best = c;
        bestScore = s;
      }
    }
    // Any H264 decoder with the same packetization mode beats refusing the viewer: browsers decode every profile.
    if (best === undefined) return undefined;
  } else if (name === "h265") {
    const src = h265Profile(source.fmtp);
    let bestScore = -1;
    for (const c of same) {
      const s = h265Score(src, h265Profile(c.fmtp));
      if (s > bestScore) {
        best = c;
        bestScore = s;
      }
    }
  } else if (name === "vp9") {
    best = same.find((c) => vp9Profile(c.fmtp) === vp9Profile(source.fmtp));
  } else {
    best = same[0];
  }
  if (!best) return undefined;
  // goog-remb (without transport-cc) makes the viewer report what it can receive; simulcast layers adapt to it.
  const info = toInfo(source.kind, best, ["nack", "nack pli", "ccm fir", "goog-remb"]);
  if (name === "opus" && isStereoOpus(source.fmtp)) info.fmtp = withStereo(info.fmtp);
  return info;
}

/** A publisher that sends stereo Opus says so with stereo=1 or sprop-stereo=1. */
function isStereoOpus(fmtp: string): boolean {
  const p = fmtpParams(fmtp);
  return p.get("stereo") === "1" || p.get("sprop-stereo") === "1";
}

/** The viewer's answer must say stereo too, or browsers set up a mono decoder and fold the channels. */
function withStereo(fmtp: string): string {
  const parts = fmtp.split(";").map((x) => x.trim()).filter((x) => x !== "" && !/^(sprop-)?stereo=/i.test(x));
  return [...parts, "stereo=1", "sprop-stereo=1"].join(";");
}

/** Text for an error when a viewer offers nothing that decodes the publisher's codec. */
export function describeCodec(c: CodecInfo): string {
  if (codecName(c.mimeType) === "h264") {
    const p = fmtpParams(c.fmtp);
    return `${c.mimeType} (profile-level-id=${p.get("profile-level-id") ?? "?"}, packetization-mode=${p.get("packetization-mode") ?? "0"})`;
  }
  if (codecName(c.mimeType) === "h265") {
    const p = h265Profile(c.fmtp);
    return `${c.mimeType} (profile-id=${p.profileId}, tier-flag=${p.tier}, level-id=${p.level})`;
  }
  return c.mimeType;
}

/** The video or audio codecs a viewer's section offers, by name, for that error: "VP8, H264". */
export function offeredCodecNames(media: OfferedMedia): string {
  const names = [...new Set(media.codecs.map((c) => c.name).filter((n) => !/^(rtx|red|ulpfec|flexfec-03)$/i.test(n)))];
  return names.length === 0 ? "nothing" : names.join(", ");
}
