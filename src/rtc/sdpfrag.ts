// application/trickle-ice-sdpfrag (RFC 8840) as WHIP/WHEP clients PATCH it: ICE credentials, per-mid candidates,
// end-of-candidates. Parsing is strict so a malformed fragment is a 400, not a werift exception.

export interface FragCandidate {
  candidate: string;
  mid: string | undefined;
  mLineIndex: number;
}

export interface SdpFrag {
  ufrag: string | undefined;
  pwd: string | undefined;
  candidates: FragCandidate[];
  endOfCandidates: boolean;
  mids: string[];
}

export class SdpFragError extends Error {
  override name = "SdpFragError";
}

const CANDIDATE = /^candidate:\S+ \d+ (udp|tcp) \d+ \S+ \d+ typ (host|srflx|prflx|relay)( .*)?$/i;

export function parseSdpFrag(text: string): SdpFrag {
  const frag: SdpFrag = { ufrag: undefined, pwd: undefined, candidates: [], endOfCandidates: false, mids: [] };
  let mLineIndex = -1;
  let mid: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "") continue;
    if (!/^[a-z]=/.test(line)) throw new SdpFragError(`malformed line "${line.slice(0, 40)}"`);
    if (line.startsWith("m=")) {
      mLineIndex++;
      mid = undefined;
      continue;
    }
    if (!line.startsWith("a=")) continue;
    const value = line.slice(2);
    if (value.startsWith("ice-ufrag:")) frag.ufrag = value.slice(10);
    else if (value.startsWith("ice-pwd:")) frag.pwd = value.slice(8);
    else if (value.startsWith("mid:")) {
      mid = value.slice(4);
      frag.mids.push(mid);
    } else if (value === "end-of-candidates") frag.endOfCandidates = true;
    else if (value.startsWith("candidate:")) {
      if (!CANDIDATE.test(value)) throw new SdpFragError(`malformed candidate "${value.slice(0, 60)}"`);
      frag.candidates.push({ candidate: value, mid, mLineIndex: Math.max(0, mLineIndex) });
    }
  }
  if ((frag.ufrag === undefined) !== (frag.pwd === undefined)) {
    throw new SdpFragError("ice-ufrag and ice-pwd must come together");
  }
  return frag;
}

/** The answer to an ICE restart: the server's new credentials and candidates, per media section. */
export function buildSdpFrag(localSdp: string): string {
  const out: string[] = [];
  let ufrag: string | undefined;
  let pwd: string | undefined;
  const sections: { header: string; mid?: string; candidates: string[] }[] = [];
  for (const line of localSdp.split(/\r?\n/)) {
    if (line.startsWith("m=")) sections.push({ header: line, candidates: [] });
    const current = sections[sections.length - 1];
    if (line.startsWith("a=ice-ufrag:")) ufrag ??= line.slice(12);
    else if (line.startsWith("a=ice-pwd:")) pwd ??= line.slice(10);
    else if (current && line.startsWith("a=mid:")) current.mid = line.slice(6);
    else if (current && line.startsWith("a=candidate:")) current.candidates.push(line);
  }
  if (ufrag !== undefined) out.push(`a=ice-ufrag:${ufrag}`);
  if (pwd !== undefined) out.push(`a=ice-pwd:${pwd}`);
  for (const s of sections) {
    out.push(s.header);
    if (s.mid !== undefined) out.push(`a=mid:${s.mid}`);
    out.push(...s.candidates, "a=end-of-candidates");
  }
  return `${out.join("\r\n")}\r\n`;
}

/** Replaces the ICE credentials of an SDP (every section), for re-applying the client's offer on ICE restart. */
export function withIceCredentials(sdp: string, ufrag: string, pwd: string): string {
  return sdp
    .split("\r\n")
    .filter((l) => !l.startsWith("a=candidate:") && l !== "a=end-of-candidates")
    .map((l) => (l.startsWith("a=ice-ufrag:") ? `a=ice-ufrag:${ufrag}` : l.startsWith("a=ice-pwd:") ? `a=ice-pwd:${pwd}` : l))
    .join("\r\n");
}
