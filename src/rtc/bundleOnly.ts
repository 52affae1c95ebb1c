// Offers made with bundle policy max-bundle by GStreamer's webrtcbin (whipsink sets it, "the spec requires all
// m= lines to be bundled") mark every section of a BUNDLE group but the first `a=bundle-only` with port 0 (RFC 8843
// §7.2.1, JSEP §5.2.1). Port 0 otherwise means a rejected section, and both the offer reader and werift read it so:
// the answer then rejects GStreamer's audio. An SFU that does BUNDLE accepts such a section into the bundle (RFC
// 8843 §7.3.1), so the offer is rewritten before anything reads it: a bundle-only section whose mid is in a BUNDLE
// group with a section that has a port gets the discard port 9, as Chromium writes its bundled sections.

const M_LINE = /^m=(\S+) 0( .*)$/;

/** The offer with its bundle-only sections given a port; unchanged when it has none. */
export function acceptBundleOnly(sdp: string): string {
  if (!sdp.includes("a=bundle-only")) return sdp;
  const eol = sdp.includes("\r\n") ? "\r\n" : "\n";
  const lines = sdp.split(/\r?\n/);
  const bundled = new Set<string>();
  interface Section {
    line: number;
    port0: boolean;
    bundleOnly: boolean;
    mid: string | undefined;
  }
  const sections: Section[] = [];
  const groups: string[][] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const current = sections[sections.length - 1];
    if (line.startsWith("m=")) sections.push({ line: i, port0: M_LINE.test(line), bundleOnly: false, mid: undefined });
    else if (current === undefined && line.startsWith("a=group:BUNDLE ")) groups.push(line.slice(15).trim().split(/\s+/));
    else if (current && line.trim() === "a=bundle-only") current.bundleOnly = true;
    else if (current && line.startsWith("a=mid:")) current.mid = line.slice(6).trim();
  }
  // A group whose every section has port 0 has no transport to bundle into: those sections stay rejected.
  for (const group of groups) {
    const live = sections.some((s) => !s.port0 && s.mid !== undefined && group.includes(s.mid));
    if (live) for (const mid of group) bundled.add(mid);
  }
  let changed = false;
  for (const s of sections) {
    if (!s.port0 || !s.bundleOnly || s.mid === undefined || !bundled.has(s.mid)) continue;
    lines[s.line] = (lines[s.line] as string).replace(M_LINE, "m=$1 9$2");
    changed = true;
  }
  return changed ? lines.join(eol) : sdp;
}
