// A small, strict reader for client offers. werift accepts some garbage, so an offer is checked here first and
// turned into the facts the server needs: media kinds, directions, codecs (with fmtp and feedback), rids.

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

export class SdpError extends Error {
  constructor(readonly detail: string) {
    super(`invalid SDP: ${detail}`);
    this.name = "SdpError";
  }
}

const DIRECTIONS: readonly Direction[] = ["sendrecv", "sendonly", "recvonly", "inactive"];

/** Parses and validates an offer; throws SdpError with the first reason it is not usable. */
export function parseOffer(sdp: string): ParsedOffer {
  if (typeof sdp !== "string" || sdp.length === 0) throw new SdpError("empty body");
  const lines = sdp.split(/\r?\n/).filter((l) => l !== "");
  if (lines[0]?.trim() !== "v=0") throw new SdpError("does not start with v=0");
  for (const line of lines) {
    if (!/^[a-z]=/.test(line)) throw new SdpError(`malformed line "${line.slice(0, 40)}"`);
  }

  let sessionUfrag: string | undefined;
  let sessionPwd: string | undefined;
  let sessionFingerprint = false;
  const media: OfferedMedia[] = [];
  let current: (OfferedMedia & { ufrag?: string; pwd?: string; fingerprint?: boolean }) | undefined;
  const pending = new Map<number, Partial<OfferedCodec>>();

  const flushCodecs = () => {
    if (!current) return;
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
  const sections: (typeof current)[] = [];

  for (const line of lines) {
    const type = line[0];
    const value = line.slice(2).trim();
    if (type === "m") {
      flushCodecs();
      const m = /^(\S+) (\d+)(?:\/\d+)? (\S+)((?: \S+)*)$/.exec(value);
      if (!m) throw new SdpError(`malformed m= line "${value.slice(0, 60)}"`);
      const kindRaw = m[1] as string;
      const kind = kindRaw === "audio" || kindRaw === "video" || kindRaw === "application" ? kindRaw : "other";
      current = {
        kind,
        mid: undefined,
        direction: "sendrecv",
        port: Number(m[2]),
        codecs: [],
        rids: [],
        extmap: [],
      };
      for (const pt of (m[4] ?? "").trim().split(" ").filter(Boolean)) {
        const n = Number(pt);
        if (kind !== "application" && Number.isInteger(n) && n >= 0 && n <= 127) pending.set(n, {});
      }
      sections.push(current);
      continue;
    }
    if (type !== "a") continue;
    const colon = value.indexOf(":");
    const attr = colon < 0 ? value : value.slice(0, colon);
    const arg = colon < 0 ? "" : value.slice(colon + 1);
    if (!current) {
      if (attr === "ice-ufrag") sessionUfrag = arg;
      else if (attr === "ice-pwd") sessionPwd = arg;
      else if (attr === "fingerprint") sessionFingerprint = /^\S+ [0-9A-Fa-f:]+$/.test(arg);
      continue;
    }
    switch (attr) {
      case "mid":
        current.mid = arg;
        break;
      case "ice-ufrag":
        current.ufrag = arg;
        break;
      case "ice-pwd":
        current.pwd = arg;
        break;
      case "fingerprint":
        current.fingerprint = /^\S+ [0-9A-Fa-f:]+$/.test(arg);
        break;
      case "rtpmap": {
        const m = /^(\d+) ([^/\s]+)\/(\d+)(?:\/(\d+))?$/.exec(arg);
        if (!m) throw new SdpError(`malformed rtpmap "${arg.slice(0, 60)}"`);
        const c = pending.get(Number(m[1]));
        if (c) {
          c.name = m[2];
          c.clockRate = Number(m[3]);
          c.channels = m[4] === undefined ? undefined : Number(m[4]);
        }
        break;
      }
      case "fmtp": {
        const m = /^(\d+) (.*)$/.exec(arg);
        const c = m ? pending.get(Number(m[1])) : undefined;
        if (c && m) c.fmtp = (m[2] ?? "").trim();
        break;
      }
      case "rtcp-fb": {
        const m = /^(\d+|\*) (.*)$/.exec(arg);
        if (!m) break;
        const fb = (m[2] ?? "").trim();
        if (m[1] === "*") for (const c of pending.values()) (c.rtcpFb ??= []).push(fb);
        else {
          const c = pending.get(Number(m[1]));
          if (c) (c.rtcpFb ??= []).push(fb);
        }
        break;
      }
      case "rid": {
        const m = /^(\S+) send\b/.exec(arg);
        if (m?.[1]) current.rids.push(m[1]);
        break;
      }
      case "extmap": {
        const m = /^(\d+)(?:\/\S+)? (\S+)/.exec(arg);
        if (m) current.extmap.push({ id: Number(m[1]), uri: m[2] as string });
        break;
      }
      default:
        if (DIRECTIONS.includes(attr as Direction)) current.direction = attr as Direction;
    }
  }
  flushCodecs();

  for (const s of sections) if (s) media.push(s);
  const av = sections.filter((s) => s && (s.kind === "audio" || s.kind === "video") && s.port !== 0);
  if (av.length === 0) throw new SdpError("no audio or video section");
  for (const s of av) {
    if (!s) continue;
    if ((s.ufrag ?? sessionUfrag) === undefined || (s.pwd ?? sessionPwd) === undefined) {
      throw new SdpError("missing ICE credentials (a=ice-ufrag / a=ice-pwd)");
    }
    if (!(s.fingerprint ?? sessionFingerprint)) throw new SdpError("missing DTLS fingerprint (a=fingerprint)");
    if (s.codecs.length === 0) throw new SdpError(`${s.kind} section has no codecs`);
  }
  const first = av[0] as (typeof av)[number] & object;
  return {
    media: media.map(({ ...m }) => {
      const { ufrag: _u, pwd: _p, fingerprint: _f, ...rest } = m as OfferedMedia & {
        ufrag?: string;
        pwd?: string;
        fingerprint?: boolean;
      };
      return rest;
    }),
    iceUfrag: (first.ufrag ?? sessionUfrag) as string,
    icePwd: (first.pwd ?? sessionPwd) as string,
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
