// What a WHIP/WHEP offer or a PATCH fragment may hold. An offer is checked against these before werift sees it:
// werift builds a transport per unbundled section and walks repeated attributes in ways that grow faster than the
// input (1,000 sections held the loop for 80 s, 20,000 `a=ssrc` lines for 6.5 s), so the caps are what keeps its
// work small, and our own scan stops at the first line past them.
//
// werift's own work is what the caps bound (measured with `bun run bench sdp`, docs/hardening.md): it grows with
// the offer's lines (~10-20 us each: its parser splits and re-joins every line, 40 ms for 400 KB), with its
// unbundled sections (a transport each) and with rtcp-fb lines times codecs (each line is matched against every
// codec of its section). Hence byte and line caps well under the 1 MB body limit, and caps on the products: the
// heaviest offer they let through costs werift ~10-25 ms, a real Chromium offer 4-7 ms.
//
// The numbers leave room for every real client: Chromium (audio + simulcast video + a data channel: 3 sections,
// 6.3 KB, ~180 lines, 23 video payload types, 56 `a=rtcp-fb`, 33 `a=rtpmap`, 15 `a=extmap`, lines under 120
// characters; with 64 candidates a section ~15 KB and ~370 lines), Firefox, OBS (libdatachannel, ~40 lines),
// GStreamer webrtcbin (bundle-policy none: a transport and 9 IPv4/IPv6/TCP candidates per section, 57 lines).

export interface OfferLimits {
  /** Characters in the whole offer. */
  readonly maxBytes: number;
  /** m= sections, rejected (port 0) ones included: each still becomes a werift transceiver. */
  readonly maxSections: number;
  /** Every line, blank ones included, so a body of newlines stops as early as one of attributes. */
  readonly maxLines: number;
  /** Characters in one line (an H265 fmtp with its parameter sets is a few hundred). */
  readonly maxLineLength: number;
  /** Most times one attribute may appear in one section (or at session level); `other` is any not listed. */
  readonly perSection: Readonly<Record<string, number>> & { readonly other: number };
  /** `a=candidate` lines in the whole offer. */
  readonly maxCandidates: number;
  /** Payload types one m= line lists. */
  readonly maxPayloadTypes: number;
  /** (codec, rtcp-fb) pairs in one section, an `a=rtcp-fb:*` counting once per codec. */
  readonly maxFeedbackPairs: number;
}

export const OFFER_LIMITS: OfferLimits = {
  maxBytes: 32 * 1024,
  maxSections: 16,
  maxLines: 1024,
  maxLineLength: 1024,
  perSection: {
    ssrc: 64,
    "ssrc-group": 16,
    candidate: 64,
    rid: 8,
    extmap: 32,
    "rtcp-fb": 256,
    fmtp: 64,
    rtpmap: 64,
    fingerprint: 4,
    group: 4,
    "ice-ufrag": 1,
    "ice-pwd": 1,
    mid: 1,
    other: 64,
  },
  maxCandidates: 128,
  maxPayloadTypes: 64,
  maxFeedbackPairs: 512,
};

export interface FragLimits {
  readonly maxSections: number;
  readonly maxLines: number;
  readonly maxLineLength: number;
  /** Candidates in one PATCH (clients trickle one or a few at a time). */
  readonly maxCandidates: number;
}

export const FRAG_LIMITS: FragLimits = {
  maxSections: OFFER_LIMITS.maxSections,
  maxLines: 512,
  maxLineLength: OFFER_LIMITS.maxLineLength,
  maxCandidates: 64,
};
