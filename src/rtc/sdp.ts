// A small, strict reader for client offers. werift accepts some garbage and some offers cost it far more than their
// size, so an offer is checked here first (grammar in sdpGrammar.ts, caps in offerLimits.ts) and turned into the
// facts the server needs: media kinds, directions, codecs (with fmtp and feedback), rids.
import { OFFER_LIMITS, type OfferLimits } from "./offerLimits.ts";
import {
  boundedInt,
  candidateProblem,
  checkFingerprint,
  FINGERPRINT_HASHES,
  iceCredentialProblem,
  midProblem,
  printable,
  ridProblem,
  sdpLines,
} from "./sdpGrammar.ts";

export type MediaKind = "audio" | "video";
export type Direction = "sendrecv" | "sendonly" | "recvonly" | "inactive";

export interface OfferedCodec {
  payloadType: number;
  /** Encoding name as written, e.g. "H264", "opus", "rtx". */
  name: string;
  clockRate: number;
  channels: number | undefined;
  fmtp: string;
  rtcpFb: string[];
}

export interface OfferedMedia {
  kind: MediaKind | "application" | "other";
  mid: string | undefined;
  direction: Direction;
  /** Port 0 means the client rejected or disabled this section. */
  port: number;
  codecs: OfferedCodec[];
  /** Send rids (simulcast layers) this client offers, in order. */
  rids: string[];
  extmap: { id: number; uri: string }[];
}

export interface ParsedOffer {
  media: OfferedMedia[];
  iceUfrag: string;
  icePwd: string;
}

/**
 * Why an offer was refused. `missing`: the body is not SDP or lacks what every WebRTC offer has (v=0, an audio or
 * video section, ICE credentials, a fingerprint): the reference's plain `invalid SDP`. `invalid`: something in it
 * is malformed, out of range or over a limit (see offerLimits.ts).
 */
export type SdpErrorKind = "missing" | "invalid";

export class SdpError extends Error {
  constructor(
    readonly detail: string,
    readonly kind: SdpErrorKind = "invalid",
  ) {
    super(`invalid SDP: ${detail}`);
    this.name = "SdpError";
  }
}

const DIRECTIONS: readonly Direction[] = ["sendrecv", "sendonly", "recvonly", "inactive"];
// As werift reads it (`m=kind port PROTO fmt...`): no port/count form, the protocol in capitals, a format at least.
const M_LINE = /^(\S+) (\d{1,5}) ([A-Z][A-Z/]*)((?: \S+)+)$/;
const C_LINE = /^IN IP[46] [^ ]+$/;
const RTCP = /^\d{1,5} IN IP[46] [^ ]+$/;
const EXTMAP = /^(\d{1,5})(?:\/(?:sendrecv|sendonly|recvonly|inactive))? (\S+)(?: \S+)*$/;
const SETUP = new Set(["actpass", "active", "passive", "holdconn"]);
/**
 * Attributes werift reads a value from without checking it has one (`a=rtcp-fb` alone is a TypeError in its
 * parser); an offer must give them one.
 */
const VALUED = new Set([
  "candidate", "extmap", "fingerprint", "fmtp", "group", "ice-options", "ice-pwd", "ice-ufrag", "max-message-size", "mid",
  "msid", "msid-semantic", "rid", "rtcp", "rtcp-fb", "rtpmap", "sctp-port", "sctpmap", "setup", "simulcast", "ssrc",
  "ssrc-group",
]);
const RTPMAP = /^(\d{1,3}) ([^/\s]+)\/(\d{1,10})(?:\/(\d{1,3}))?$/;

/** ICE and DTLS facts of one level (session or section): checked here, then left to werift. */
interface TransportFacts {
  ufrag: string | undefined;
  pwd: string | undefined;
  /** Some a=fingerprint with a hash werift checks and a digest of the right length. */
  usableFingerprint: boolean;
  /** The first well-formed a=fingerprint whose hash is unknown, for the error if nothing usable comes. */
  unknownHash: string | undefined;
  /** An a=fingerprint with no digest: werift would fail on it when checking the certificate. */
  shapeless: boolean;
  counts: Map<string, number>;
}

const newFacts = (): TransportFacts => ({
  ufrag: undefined,
  pwd: undefined,
  usableFingerprint: false,
  unknownHash: undefined,
  shapeless: false,
  counts: new Map(),
});

const fail = (detail: string): never => {
  throw new SdpError(detail);
};

/** The refusal of an offer past the byte cap, checked before anything splits the body into lines. */
export function oversizedOffer(sdp: string, limits: OfferLimits = OFFER_LIMITS): SdpError | undefined {
  return sdp.length > limits.maxBytes ? new SdpError(`offer is larger than ${limits.maxBytes / 1024} KB`) : undefined;
}

/**
 * Parses and validates an offer; throws SdpError with the first reason it is not usable. Linear in the body and
 * stops at the first line past OFFER_LIMITS, so no body up to the 1 MB limit costs more than a few milliseconds.
 */
export function parseOffer(sdp: string, limits: OfferLimits = OFFER_LIMITS): ParsedOffer {
  if (typeof sdp !== "string" || sdp.length === 0) throw new SdpError("empty body", "missing");
  const tooLarge = oversizedOffer(sdp, limits);
  if (tooLarge) throw tooLarge;
  const lines = sdpLines(sdp, limits, fail);
  if (lines[0]?.trim() !== "v=0") throw new SdpError("does not start with v=0", "missing");
  for (const line of lines) {
    if (!/^[a-z]=/.test(line)) fail(`malformed line "${printable(line.slice(0, 40))}"`);
  }

  const session = newFacts();
  const media: OfferedMedia[] = [];
  const facts: TransportFacts[] = [];
  const mids = new Set<string>();
  const bundled: string[] = [];
  let current: OfferedMedia | undefined;
  let level = session;
  let candidates = 0;
  /** Payload types the current m= line lists, and what its rtpmap/fmtp/rtcp-fb lines say of them. */
  const pending = new Map<number, Partial<OfferedCodec>>();
  const extmapIds = new Set<number>();
  const rids = new Set<string>();
  /** Every payload type with an a=rtpmap in the section (listed or not: werift makes a codec of each). */
  const mapped = new Set<number>();
  const fmtpTypes = new Set<number>();
  let explicitFeedback = 0;
  let wildcardFeedback = 0;

  const endSection = () => {
    if (!current) return;
    // werift fails with a TypeError on an fmtp for a payload type it made no codec of.
    for (const pt of fmtpTypes) if (!mapped.has(pt)) fail(`fmtp for payload type ${pt}, which has no rtpmap`);
    const pairs = explicitFeedback + wildcardFeedback * mapped.size;
    if (pairs > limits.maxFeedbackPairs) fail(`rtcp-fb applies to codecs ${pairs} times in ${where()} (at most ${limits.maxFeedbackPairs})`);
    mapped.clear();
    fmtpTypes.clear();
    explicitFeedback = 0;
    wildcardFeedback = 0;
    for (const [pt, c] of pending) {
      if (c.name === undefined || c.clockRate === undefined) continue;
      current.codecs.push({
        payloadType: pt,
        name: c.name,
        clockRate: c.clockRate,
        channels: c.channels,
        fmtp: c.fmtp ?? "",
        rtcpFb: c.rtcpFb ?? [],
      });
    }
    pending.clear();
  };
  const where = () => (current ? `section ${media.length - 1}` : "session level");
  const codecOf = (ptText: string, attr: string): Partial<OfferedCodec> | undefined => {
    const pt = boundedInt(ptText, 0, 127, 3);
    if (pt === undefined) fail(`${attr} payload type "${printable(ptText.slice(0, 12))}" is not 0-127`);
    return pending.get(pt as number);
  };

  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const type = line[0];
    const value = line.slice(2).trim();
    if (type === "m") {
      endSection();
      if (media.length === limits.maxSections) fail(`more than ${limits.maxSections} media sections`);
      const m = M_LINE.exec(value);
      if (!m) fail(`malformed m= line "${printable(value.slice(0, 60))}"`);
      const [, kindRaw = "", portText = "", , fmts = ""] = m as RegExpExecArray;
      const kind = kindRaw === "audio" || kindRaw === "video" || kindRaw === "application" ? kindRaw : "other";
      const port = boundedInt(portText, 0, 65535, 5);
      if (port === undefined) fail(`m= port ${portText} is not 0-65535`);
      current = { kind, mid: undefined, direction: "sendrecv", port: port as number, codecs: [], rids: [], extmap: [] };
      if (kind === "audio" || kind === "video") {
        const listed = fmts.trim().split(" ");
        if (listed.length > limits.maxPayloadTypes) fail(`more than ${limits.maxPayloadTypes} payload types in an m= line`);
        for (const ptText of listed) {
          const pt = boundedInt(ptText, 0, 127, 3);
          if (pt === undefined) fail(`${kind} m= line payload type "${printable(ptText.slice(0, 12))}" is not 0-127`);
          if (pending.has(pt as number)) fail(`${kind} m= line lists payload type ${pt} twice`);
          pending.set(pt as number, {});
        }
      }
      extmapIds.clear();
      rids.clear();
      media.push(current);
      level = newFacts();
      facts.push(level);
      continue;
    }
    if (type === "c" && !C_LINE.test(value)) fail(`malformed c= line "${printable(value.slice(0, 60))}"`);
    if (type !== "a") continue;
    const colon = value.indexOf(":");
    const attr = colon < 0 ? value : value.slice(0, colon);
    const arg = colon < 0 ? "" : value.slice(colon + 1);
    const seen = (level.counts.get(attr) ?? 0) + 1;
    level.counts.set(attr, seen);
    const cap = limits.perSection[attr] ?? limits.perSection.other;
    if (seen > cap) fail(`more than ${cap} a=${printable(attr.slice(0, 32))} at ${where()}`);
    if (arg === "" && VALUED.has(attr)) fail(`a=${attr} needs a value`);

    switch (attr) {
      case "ice-ufrag":
      case "ice-pwd": {
        const problem = iceCredentialProblem(attr, arg);
        if (problem) fail(problem);
        if (attr === "ice-ufrag") level.ufrag = arg;
        else level.pwd = arg;
        continue;
      }
      case "fingerprint": {
        const fp = checkFingerprint(arg);
        if (fp.kind === "invalid") fail(fp.problem);
        if (fp.kind === "usable") level.usableFingerprint = true;
        if (fp.kind === "unknown") level.unknownHash ??= fp.hash;
        if (fp.kind === "shapeless") level.shapeless = true;
        continue;
      }
      case "setup":
        if (!SETUP.has(arg)) fail(`a=setup must be actpass, active, passive or holdconn`);
        continue;
      case "candidate": {
        if (++candidates > limits.maxCandidates) fail(`more than ${limits.maxCandidates} a=candidate lines`);
        const problem = candidateProblem(arg);
        if (problem) fail(problem);
        continue;
      }
      case "group": {
        if (current) continue;
        const [semantics, ...tags] = arg.split(" ");
        for (const tag of tags) {
          const problem = midProblem(tag);
          if (problem) fail(`a=group ${problem}`);
        }
        if (semantics === "BUNDLE") bundled.push(...tags);
        continue;
      }
    }
    if (!current) continue;
    switch (attr) {
      case "mid": {
        const problem = midProblem(arg);
        if (problem) fail(problem);
        if (mids.has(arg)) fail(`two media sections have mid "${arg}"`);
        mids.add(arg);
        current.mid = arg;
        break;
      }
      case "rtpmap": {
        const m = RTPMAP.exec(arg);
        if (!m) fail(`malformed rtpmap "${printable(arg.slice(0, 60))}"`);
        const [, ptText = "", name = "", rate = "", channels] = m as RegExpExecArray;
        const c = codecOf(ptText, "rtpmap");
        mapped.add(Number(ptText));
        const clockRate = boundedInt(rate, 1, 2 ** 32 - 1);
        if (clockRate === undefined) fail(`malformed rtpmap "${printable(arg.slice(0, 60))}"`);
        if (c) {
          if (c.name !== undefined) fail(`payload type ${ptText} has two rtpmap lines`);
          c.name = name;
          c.clockRate = clockRate;
          c.channels = channels === undefined ? undefined : Number(channels);
        }
        break;
      }
      case "fmtp": {
        const space = arg.indexOf(" ");
        const ptText = space < 0 ? arg : arg.slice(0, space);
        const c = codecOf(ptText, "fmtp");
        fmtpTypes.add(Number(ptText));
        if (c && space > 0) c.fmtp = arg.slice(space + 1).trim();
        break;
      }
      case "rtcp": {
        if (!RTCP.test(arg)) fail(`malformed a=rtcp "${printable(arg.slice(0, 60))}"`);
        break;
      }
      case "rtcp-fb": {
        const space = arg.indexOf(" ");
        if (space <= 0 || arg.slice(space + 1).trim() === "") fail(`malformed rtcp-fb "${printable(arg.slice(0, 60))}"`);
        const ptText = arg.slice(0, space);
        const fb = arg.slice(space + 1).trim();
        if (ptText === "*") {
          wildcardFeedback++;
          for (const c of pending.values()) (c.rtcpFb ??= []).push(fb);
        } else {
          explicitFeedback++;
          const c = codecOf(ptText, "rtcp-fb");
          if (c) (c.rtcpFb ??= []).push(fb);
        }
        break;
      }
      case "rid": {
        // rid-id SP ("send" / "recv") [SP params] (RFC 8851 §10)
        const [rid = "", dir = "", ...rest] = arg.split(" ");
        const problem = ridProblem(rid);
        if (problem) fail(problem);
        if ((dir !== "send" && dir !== "recv") || rest.length > 1) fail(`malformed rid "${printable(arg.slice(0, 60))}"`);
        if (rids.has(rid)) fail(`rid "${rid}" appears twice in a section`);
        rids.add(rid);
        if (dir === "send") current.rids.push(rid);
        break;
      }
      case "extmap": {
        const m = EXTMAP.exec(arg);
        if (!m) fail(`malformed extmap "${printable(arg.slice(0, 60))}"`);
        const idText = (m as RegExpExecArray)[1] as string;
        const id = boundedInt(idText, 1, 255, 3);
        if (id === undefined) fail(`extmap id ${idText} is not 1-255`);
        if (extmapIds.has(id as number)) fail(`extmap id ${id} appears twice in a section`);
        extmapIds.add(id as number);
        current.extmap.push({ id: id as number, uri: (m as RegExpExecArray)[2] as string });
        break;
      }
      case "ssrc": {
        // ssrc-id SP attribute[:value] (RFC 5576)
        const space = arg.indexOf(" ");
        if (space <= 0 || space === arg.length - 1 || boundedInt(arg.slice(0, space), 0, 2 ** 32 - 1) === undefined) {
          fail(`malformed ssrc "${printable(arg.slice(0, 40))}"`);
        }
        break;
      }
      default:
        if (colon < 0 && DIRECTIONS.includes(attr as Direction)) current.direction = attr as Direction;
    }
  }
  endSection();

  let first: TransportFacts | undefined;
  let any = false;
  const inBundle = new Set(bundled);
  const hasCredentials = (f: TransportFacts) => (f.ufrag ?? session.ufrag) !== undefined && (f.pwd ?? session.pwd) !== undefined;
  for (const [i, s] of media.entries()) {
    const f = facts[i] as TransportFacts;
    // werift looks for a bundled section's missing credentials in the sections after it, and fails on them.
    if (s.mid !== undefined && inBundle.has(s.mid) && !hasCredentials(f)) {
      throw new SdpError("missing ICE credentials (a=ice-ufrag / a=ice-pwd)", "missing");
    }
    if ((s.kind !== "audio" && s.kind !== "video") || s.port === 0) continue;
    any = true;
    if (!hasCredentials(f)) throw new SdpError("missing ICE credentials (a=ice-ufrag / a=ice-pwd)", "missing");
    if (!f.usableFingerprint && !session.usableFingerprint) {
      const unknown = f.unknownHash ?? session.unknownHash;
      if (unknown !== undefined) {
        fail(`unsupported fingerprint hash "${printable(unknown)}" (use ${Object.keys(FINGERPRINT_HASHES).join(", ")})`);
      }
      throw new SdpError("missing DTLS fingerprint (a=fingerprint)", "missing");
    }
    if (s.codecs.length === 0) fail(`${s.kind} section has no codecs`);
    first ??= f;
  }
  if (!any || !first) throw new SdpError("no audio or video section", "missing");
  // Next to a usable one, a fingerprint with no digest would make werift fail when it checks the certificate.
  if (session.shapeless || facts.some((f) => f.shapeless)) fail("an a=fingerprint has no digest");
  for (const tag of bundled) if (!mids.has(tag)) fail(`a=group:BUNDLE names mid "${tag}", which no section has`);
  return {
    media,
    iceUfrag: (first.ufrag ?? session.ufrag) as string,
    icePwd: (first.pwd ?? session.pwd) as string,
  };
}

/** Parses `a=b;c=d` fmtp strings into a lower-cased key map. */
export function fmtpParams(fmtp: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of fmtp.split(";")) {
    const i = part.indexOf("=");
    if (i < 0) continue;
    out.set(part.slice(0, i).trim().toLowerCase(), part.slice(i + 1).trim());
  }
  return out;
}

/** Sections that carry media the client sends (for WHIP) or wants (for WHEP). */
export function activeMedia(offer: ParsedOffer, want: "send" | "recv"): OfferedMedia[] {
  const ok: Direction[] = want === "send" ? ["sendonly", "sendrecv"] : ["recvonly", "sendrecv"];
  return offer.media.filter((m) => (m.kind === "audio" || m.kind === "video") && m.port !== 0 && ok.includes(m.direction));
}
