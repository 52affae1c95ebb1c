// application/trickle-ice-sdpfrag (RFC 8840) as WHIP/WHEP clients PATCH it: ICE credentials, per-mid candidates,
// end-of-candidates. Parsing is strict so a malformed fragment is a 400, not a werift exception, and a restart with
// credentials no ICE agent accepts (RFC 8839) is refused before the session's ICE is torn down for it.
import { FRAG_LIMITS, type FragLimits } from "./offerLimits.ts";
import { candidateProblem, iceCredentialProblem, midProblem, printable, sdpLines } from "./sdpGrammar.ts";

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

const fail = (detail: string): never => {
  throw new SdpFragError(detail);
};

/**
 * Parses a PATCH body; throws SdpFragError naming the first problem. Credentials, mids and candidates follow the
 * same grammar as offers (sdpGrammar.ts), within FRAG_LIMITS.
 */
export function parseSdpFrag(text: string, limits: FragLimits = FRAG_LIMITS): SdpFrag {
  const frag: SdpFrag = { ufrag: undefined, pwd: undefined, candidates: [], endOfCandidates: false, mids: [] };
  let mLineIndex = -1;
  let mid: string | undefined;
  for (const raw of sdpLines(text, limits, fail)) {
    const line = raw.trim();
    if (line === "") continue;
    if (!/^[a-z]=/.test(line)) fail(`malformed line "${printable(line.slice(0, 40))}"`);
    if (line.startsWith("m=")) {
      if (++mLineIndex >= limits.maxSections) fail(`more than ${limits.maxSections} media sections`);
      mid = undefined;
      continue;
    }
    if (!line.startsWith("a=")) continue;
    const value = line.slice(2);
    if (value.startsWith("ice-ufrag:") || value.startsWith("ice-pwd:")) {
      const attr = value.startsWith("ice-ufrag:") ? "ice-ufrag" : "ice-pwd";
      const credential = value.slice(attr.length + 1);
      const problem = iceCredentialProblem(attr, credential);
      if (problem) fail(problem);
      const previous = attr === "ice-ufrag" ? frag.ufrag : frag.pwd;
      if (previous !== undefined && previous !== credential) fail(`two different a=${attr}`);
      if (attr === "ice-ufrag") frag.ufrag = credential;
      else frag.pwd = credential;
    } else if (value.startsWith("mid:")) {
      mid = value.slice(4);
      const problem = midProblem(mid);
      if (problem) fail(problem);
      frag.mids.push(mid);
    } else if (value === "end-of-candidates") frag.endOfCandidates = true;
    else if (value.startsWith("candidate:")) {
      if (frag.candidates.length === limits.maxCandidates) fail(`more than ${limits.maxCandidates} candidates`);
      const problem = candidateProblem(value.slice(10));
      if (problem) fail(problem);
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
