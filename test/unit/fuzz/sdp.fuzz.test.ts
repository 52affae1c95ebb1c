// Property-based tests of the SDP readers (issue 14): whatever a client sends, parseOffer and parseSdpFrag either
// read it or throw their own error, quickly; valid offers read back exactly as generated; the ICE-restart helpers
// keep offers readable.
import fc from "fast-check";
import { SessionDescription } from "werift";
import { describe, expect, it } from "vitest";
import { OFFER_LIMITS } from "../../../src/rtc/offerLimits.ts";
import { parseOffer, SdpError } from "../../../src/rtc/sdp.ts";
import { buildSdpFrag, parseSdpFrag, SdpFragError, withIceCredentials } from "../../../src/rtc/sdpfrag.ts";
import { loadSdp } from "../../fixtures/fixtures.ts";
import { expectOwnError, FUZZ_RUNS, TimeBudget } from "./budget.ts";
import { candidate, expectedOffer, mid, mutate, mutation, offerModel, offerText, pwd, ufrag } from "./sdpArbitraries.ts";

const RUNS = FUZZ_RUNS;

function tryOffer(budget: TimeBudget, text: string): void {
  budget.time(() => {
    try {
      parseOffer(text);
    } catch (err) {
      expectOwnError(err, SdpError);
    }
  });
}

function tryFrag(budget: TimeBudget, text: string): void {
  budget.time(() => {
    try {
      parseSdpFrag(text);
    } catch (err) {
      expectOwnError(err, SdpFragError);
    }
  });
}

/** Text that looks like SDP line by line: `x=` prefixes, SDP's own words, any characters. */
const sdpish = fc
  .array(
    fc.oneof(
      fc.string({ unit: "binary", maxLength: 200 }),
      fc.tuple(fc.constantFrom("v=", "o=", "s=", "t=", "c=", "m=", "a=", "b="), fc.string({ unit: "grapheme-ascii", maxLength: 200 })).map(([p, v]) => p + v),
    ),
    { maxLength: 300 },
  )
  .chain((lines) => fc.constantFrom("\r\n", "\n").map((eol) => ["v=0", ...lines].join(eol)));

describe("parseOffer under fuzzing", () => {
  it("reads every generated valid offer back as it was generated", () => {
    const budget = new TimeBudget(20);
    fc.assert(
      fc.property(offerModel(), (model) => {
        const text = offerText(model);
        expect(text.length).toBeLessThanOrEqual(OFFER_LIMITS.maxBytes);
        expect(budget.time(() => parseOffer(text))).toEqual(expectedOffer(model));
      }),
      { numRuns: RUNS },
    );
    expect(budget.withinBudget, String(budget)).toBe(true);
  });

  it("any string: parses or throws SdpError, each within the budget", () => {
    const budget = new TimeBudget(20);
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary", maxLength: 2000 }), sdpish), (text) => tryOffer(budget, text)),
      { numRuns: RUNS * 3 },
    );
    expect(budget.withinBudget, String(budget)).toBe(true);
  });

  it("mutations of valid offers (and of real clients' offers): parse or throw SdpError", () => {
    const budget = new TimeBudget(20);
    const real = ["chromium-publish", "obs-h264-high", "whep-recvonly", "gstreamer-webrtcbin", "chromium-mdns-datachannel"] as const;
    const base = fc.oneof(offerModel().map(offerText), fc.constantFrom(...real).map((name) => loadSdp(name)));
    fc.assert(
      fc.property(base, fc.array(mutation(), { minLength: 1, maxLength: 6 }), (text, mutations) => tryOffer(budget, mutate(text, mutations))),
      { numRuns: RUNS * 3 },
    );
    expect(budget.withinBudget, String(budget)).toBe(true);
  });

  it("what parseOffer accepts, werift's SDP parser reads too (it throws TypeErrors on some malformed lines)", () => {
    const real = ["chromium-publish", "obs-h264-high", "whep-recvonly", "gstreamer-webrtcbin", "chromium-mdns-datachannel"] as const;
    const base = fc.oneof(offerModel().map(offerText), fc.constantFrom(...real).map((name) => loadSdp(name)));
    fc.assert(
      fc.property(base, fc.array(mutation(), { maxLength: 4 }), (text, mutations) => {
        const offer = mutate(text, mutations);
        try {
          parseOffer(offer);
        } catch (err) {
          expectOwnError(err, SdpError);
          return;
        }
        expect(() => SessionDescription.parse(offer)).not.toThrow();
      }),
      { numRuns: RUNS * 3 },
    );
  });

  it("large bodies near the caps: parse or throw SdpError within the budget", () => {
    const budget = new TimeBudget(40);
    const big = fc
      .tuple(offerModel().map(offerText), fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 3000 }), fc.boolean())
      .map(([text, line, times, crlf]) => text + `a=${line}${crlf ? "\r\n" : "\n"}`.repeat(times));
    fc.assert(
      fc.property(big, (text) => tryOffer(budget, text)),
      { numRuns: 60 },
    );
    expect(budget.withinBudget, String(budget)).toBe(true);
  });

  it("withIceCredentials (ICE restart): the offer reads back with the new credentials and no old candidates", () => {
    fc.assert(
      fc.property(offerModel(), ufrag(), pwd(), (model, u, p) => {
        const restarted = withIceCredentials(offerText(model), u, p);
        expect(restarted).not.toMatch(/^a=candidate:|^a=end-of-candidates/m);
        const parsed = parseOffer(restarted);
        expect(parsed).toMatchObject({ iceUfrag: u, icePwd: p });
        expect(parsed.media).toEqual(expectedOffer(model).media);
      }),
      { numRuns: RUNS },
    );
  });
});

describe("sdpfrag under fuzzing", () => {
  const frag = fc.record({
    credentials: fc.option(fc.tuple(ufrag(), pwd()), { nil: undefined }),
    sections: fc.array(fc.record({ mid: mid(), candidates: fc.array(candidate(), { maxLength: 3 }) }), { maxLength: 4 }),
    end: fc.boolean(),
  });

  it("reads every generated fragment back: credentials, candidates with their mid and m-line, end-of-candidates", () => {
    fc.assert(
      fc.property(frag, ({ credentials, sections, end }) => {
        const lines: string[] = [];
        if (credentials) lines.push(`a=ice-ufrag:${credentials[0]}`, `a=ice-pwd:${credentials[1]}`);
        for (const s of sections) {
          lines.push("m=audio 9 UDP/TLS/RTP/SAVPF 0", `a=mid:${s.mid}`, ...s.candidates.map((c) => `a=candidate:${c}`));
          if (end) lines.push("a=end-of-candidates");
        }
        const parsed = parseSdpFrag(`${lines.join("\r\n")}\r\n`);
        expect(parsed.ufrag).toBe(credentials?.[0]);
        expect(parsed.pwd).toBe(credentials?.[1]);
        expect(parsed.mids).toEqual(sections.map((s) => s.mid));
        expect(parsed.endOfCandidates).toBe(end && sections.length > 0);
        expect(parsed.candidates).toEqual(
          sections.flatMap((s, i) => s.candidates.map((c) => ({ candidate: `candidate:${c}`, mid: s.mid, mLineIndex: i }))),
        );
      }),
      { numRuns: RUNS },
    );
  });

  it("any string, and mutated fragments: parse or throw SdpFragError, each within the budget", () => {
    const budget = new TimeBudget(20);
    const text = fc.oneof(
      fc.string({ unit: "binary", maxLength: 2000 }),
      sdpish,
      fc.tuple(ufrag(), pwd(), fc.array(candidate(), { maxLength: 8 }), fc.array(mutation(), { maxLength: 4 })).map(([u, p, cs, ms]) =>
        mutate([`a=ice-ufrag:${u}`, `a=ice-pwd:${p}`, "m=video 9 UDP/TLS/RTP/SAVPF 96", "a=mid:0", ...cs.map((c) => `a=candidate:${c}`), ""].join("\r\n"), ms),
      ),
    );
    fc.assert(
      fc.property(text, (t) => tryFrag(budget, t)),
      { numRuns: RUNS * 3 },
    );
    expect(budget.withinBudget, String(budget)).toBe(true);
  });

  it("buildSdpFrag: never throws, and what it builds from an SDP with candidates reads back with them", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 500 }), (text) => {
        expect(typeof buildSdpFrag(text)).toBe("string");
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(offerModel(), (model) => {
        const text = offerText(model);
        const parsed = parseSdpFrag(buildSdpFrag(text));
        const first = model.sections[0]?.transport ?? model.session;
        expect(parsed.ufrag).toBe(first?.ufrag);
        expect(parsed.candidates.map((c) => c.candidate)).toEqual(model.sections.flatMap((s) => s.candidates.map((c) => `candidate:${c}`)));
        expect(parsed.mids).toEqual(model.sections.map((s) => s.mid));
      }),
      { numRuns: RUNS },
    );
  });
});
