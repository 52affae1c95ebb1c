// Offers and PATCH fragments that can never connect, or that cost far more than their size, are refused by the
// readers before werift sees them (issue 14 items 1 and 2); the offers real clients send still pass.
import { describe, expect, it } from "vitest";
import { OFFER_LIMITS } from "../../src/rtc/offerLimits.ts";
import { parseOffer, SdpError } from "../../src/rtc/sdp.ts";
import { candidateProblem, isCandidateAddress } from "../../src/rtc/sdpGrammar.ts";
import { parseSdpFrag, SdpFragError } from "../../src/rtc/sdpfrag.ts";
import { loadSdp, type SdpFixture } from "../fixtures/fixtures.ts";

const FP = "sha-256 5C:0E:FC:5A:04:63:87:A9:C7:65:CD:C6:65:7B:75:B8:7A:33:B2:B2:41:D0:02:F7:CD:96:47:6C:D2:F4:66:D9";
const SESSION = ["v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0"];

function section(mid: string, extra: string[] = [], kind = "video"): string[] {
  return [
    `m=${kind} 9 UDP/TLS/RTP/SAVPF 96`,
    "c=IN IP4 0.0.0.0",
    "a=ice-ufrag:abcd",
    "a=ice-pwd:0123456789abcdefghijkl",
    `a=fingerprint:${FP}`,
    "a=setup:actpass",
    `a=mid:${mid}`,
    "a=sendonly",
    "a=rtpmap:96 VP8/90000",
    ...extra,
  ];
}

const offer = (...sections: string[][]): string => [...SESSION, ...sections.flat(), ""].join("\r\n");
/** The one-section offer with `from` (a line prefix) replaced by `to` (lines; none removes it). */
const edit = (from: string, ...to: string[]): string =>
  offer(section("0").flatMap((l) => (l.startsWith(from) ? to : [l])));

function refusal(sdp: string): string {
  try {
    parseOffer(sdp);
  } catch (err) {
    expect(err).toBeInstanceOf(SdpError);
    expect((err as SdpError).kind).toBe("invalid");
    return (err as SdpError).detail;
  }
  throw new Error("parseOffer accepted the offer");
}

function fragRefusal(text: string): string {
  try {
    parseSdpFrag(text);
  } catch (err) {
    expect(err).toBeInstanceOf(SdpFragError);
    return (err as Error).message;
  }
  throw new Error("parseSdpFrag accepted the fragment");
}

describe("offers of real clients pass the checks", () => {
  it.each<SdpFixture>(["chromium-publish", "obs-h264-high", "whep-recvonly", "gstreamer-webrtcbin", "chromium-mdns-datachannel"])(
    "%s",
    (name) => {
      const o = parseOffer(loadSdp(name));
      expect(o.media.length).toBeGreaterThan(1);
    },
  );

  it("GStreamer webrtcbin's offer without a=group:BUNDLE: a transport and IPv6/TCP candidates per section", () => {
    const sdp = loadSdp("gstreamer-webrtcbin");
    expect(sdp).not.toContain("a=group:BUNDLE");
    expect(parseOffer(sdp).media.map((m) => m.mid)).toEqual(["video0", "audio1"]);
  });

  it("Chromium's mDNS host candidates (.local names)", () => {
    const sdp = loadSdp("chromium-mdns-datachannel");
    expect(sdp).toMatch(/\.local \d+ typ host/);
    expect(parseOffer(sdp).media.map((m) => m.kind)).toEqual(["audio", "video", "application"]);
  });

  it(`${OFFER_LIMITS.maxSections} sections, the cap, with unique mids`, () => {
    const sections = Array.from({ length: OFFER_LIMITS.maxSections }, (_, i) => section(String(i)));
    expect(parseOffer(offer(...sections)).media).toHaveLength(OFFER_LIMITS.maxSections);
  });

  it("every known fingerprint hash with a digest of its length, upper or lower case", () => {
    for (const [hash, bytes] of [["sha-1", 20], ["SHA-224", 28], ["sha-256", 32], ["sha-384", 48], ["sha-512", 64]] as const) {
      const digest = Array.from({ length: bytes }, (_, i) => ((i * 7) % 256).toString(16).padStart(2, "0")).join(":");
      expect(() => parseOffer(edit("a=fingerprint", `a=fingerprint:${hash} ${digest}`))).not.toThrow();
    }
  });

  it("an unknown hash next to a usable one (RFC 8122 lets the answerer pick)", () => {
    expect(() => parseOffer(edit("a=fingerprint", "a=fingerprint:foo-999 AB:CD", `a=fingerprint:${FP}`))).not.toThrow();
  });
});

describe("offers are refused, naming the problem", () => {
  it("more media sections than the cap (the superlinear unbundled offer)", () => {
    const sections = Array.from({ length: OFFER_LIMITS.maxSections + 1 }, (_, i) => section(String(i)));
    expect(refusal(offer(...sections))).toBe(`more than ${OFFER_LIMITS.maxSections} media sections`);
  });

  it("an offer over 32 KB, well under the 1 MB body limit (werift's parse is about linear in lines, and slow)", () => {
    expect(refusal(offer(section("0", Array(350).fill(`a=x-filler:${"f".repeat(90)}`))))).toBe("offer is larger than 32 KB");
  });

  it("too many lines, a body of blank lines included", () => {
    expect(refusal(offer(section("0", Array(1100).fill("a=x-filler"))))).toBe("more than 1024 lines");
    expect(refusal(`v=0\r\n${"\r\n".repeat(3000)}`)).toBe("more than 1024 lines");
  });

  it("a line longer than the cap", () => {
    expect(refusal(offer(section("0", [`a=x-long:${"y".repeat(1100)}`])))).toMatch(/^line \d+ is longer than 1024 characters$/);
  });

  it("more payload types than the cap in one m= line", () => {
    const pts = Array.from({ length: 65 }, (_, i) => i);
    expect(refusal(edit("m=video", `m=video 9 UDP/TLS/RTP/SAVPF ${pts.join(" ")}`))).toBe("more than 64 payload types in an m= line");
  });

  it("rtcp-fb lines times the codecs they apply to past the cap (werift matches each line against each codec)", () => {
    const pts = Array.from({ length: 40 }, (_, i) => 20 + i);
    const lines = [...pts.map((pt) => `a=rtpmap:${pt} VP8/90000`), ...Array.from({ length: 13 }, (_, i) => `a=rtcp-fb:* x-${i}`)];
    expect(refusal(edit("m=video", `m=video 9 UDP/TLS/RTP/SAVPF 96 ${pts.join(" ")}`, ...lines))).toBe(
      "rtcp-fb applies to codecs 533 times in section 0 (at most 512)",
    );
  });

  it("an fmtp for a payload type with no rtpmap (werift throws a TypeError on it)", () => {
    expect(refusal(edit("a=rtpmap", "a=rtpmap:96 VP8/90000", "a=fmtp:97 apt=96"))).toBe("fmtp for payload type 97, which has no rtpmap");
    // An rtpmap line for a type the m= line does not list is enough for werift, so it is for us too.
    expect(() => parseOffer(edit("a=rtpmap", "a=rtpmap:96 VP8/90000", "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96"))).not.toThrow();
  });

  it("20,000 a=ssrc lines, and every other repeated attribute past its cap", () => {
    const ssrc = Array.from({ length: 20_000 }, (_, i) => `a=ssrc:${i} cname:x`);
    expect(refusal(offer(section("0", ssrc)))).toBe("offer is larger than 32 KB");
    expect(refusal(offer(section("0", ssrc.slice(0, 1100))))).toBe("more than 1024 lines");
    expect(refusal(offer(section("0", ssrc.slice(0, 65))))).toBe("more than 64 a=ssrc at section 0");
    const caps: [string, number, (i: number) => string][] = [
      ["ssrc-group", 16, (i) => `a=ssrc-group:FID ${i} ${i + 1}`],
      ["candidate", 64, (i) => `a=candidate:${i} 1 udp 2122260223 10.0.0.1 ${1000 + i} typ host`],
      ["rid", 8, (i) => `a=rid:r${i} send`],
      ["extmap", 32, (i) => `a=extmap:${i + 1} urn:x:${i}`],
      ["rtcp-fb", 256, () => "a=rtcp-fb:96 nack"],
      ["fmtp", 64, () => "a=fmtp:96 x=1"],
      ["fingerprint", 4, () => `a=fingerprint:${FP}`],
      ["x-unknown", 64, () => "a=x-unknown:1"],
    ];
    for (const [attr, cap, line] of caps) {
      const lines = Array.from({ length: cap + 1 }, (_, i) => line(i));
      expect(refusal(offer(section("0", lines))), attr).toBe(`more than ${cap} a=${attr} at section 0`);
    }
  });

  it("more candidates in the offer than the cap, spread over sections", () => {
    const cands = Array.from({ length: 60 }, (_, i) => `a=candidate:${i} 1 udp 2122260223 10.0.0.1 ${1000 + i} typ host`);
    expect(refusal(offer(section("0", cands), section("1", cands), section("2", cands)))).toBe("more than 128 a=candidate lines");
  });

  it("ICE credentials outside RFC 8839: lengths and characters", () => {
    expect(refusal(edit("a=ice-ufrag", `a=ice-ufrag:${"u".repeat(400_000)}`))).toBe("offer is larger than 32 KB");
    expect(refusal(edit("a=ice-ufrag", `a=ice-ufrag:${"u".repeat(2000)}`))).toMatch(/^line 7 is longer than 1024/);
    expect(refusal(edit("a=ice-ufrag", `a=ice-ufrag:${"u".repeat(257)}`))).toBe("ice-ufrag must be 4-256 characters (has 257)");
    expect(refusal(edit("a=ice-ufrag", "a=ice-ufrag:abc"))).toBe("ice-ufrag must be 4-256 characters (has 3)");
    expect(refusal(edit("a=ice-ufrag", "a=ice-ufrag:ab-cd"))).toBe('ice-ufrag may only hold letters, digits, "+" and "/"');
    expect(refusal(edit("a=ice-pwd", "a=ice-pwd:short"))).toBe("ice-pwd must be 22-256 characters (has 5)");
    expect(refusal(edit("a=ice-pwd", `a=ice-pwd:${"p".repeat(21)};`))).toMatch(/^ice-pwd may only hold/);
    expect(refusal(edit("a=ice-pwd", "a=ice-pwd:0123456789abcdefghijkl", "a=ice-pwd:0123456789abcdefghijkl"))).toBe(
      "more than 1 a=ice-pwd at section 0",
    );
  });

  it("fingerprints with an unknown hash or a digest of the wrong length (RFC 8122)", () => {
    expect(refusal(edit("a=fingerprint", "a=fingerprint:foo-999 AB:CD"))).toBe(
      'unsupported fingerprint hash "foo-999" (use sha-1, sha-224, sha-256, sha-384, sha-512)',
    );
    const md5 = "a=fingerprint:md5 D4:1D:8C:D9:8F:00:B2:04:E9:80:09:98:EC:F8:42:7E";
    expect(refusal(edit("a=fingerprint", md5))).toMatch(/^unsupported fingerprint hash "md5"/);
    expect(refusal(edit("a=fingerprint", "a=fingerprint:sha-256 AB:CD"))).toBe("sha-256 fingerprint must be 32 bytes (has 2)");
    expect(refusal(edit("a=fingerprint", `a=fingerprint:sha-1 ${FP.slice(8)}`))).toBe("sha-1 fingerprint must be 20 bytes (has 32)");
    expect(refusal(edit("a=fingerprint", "a=fingerprint:sha-256 ZZ:0E"))).toMatch(/^malformed fingerprint/);
    expect(refusal(edit("a=fingerprint", "a=fingerprint:sha-256 5C0EFC"))).toMatch(/^malformed fingerprint/);
  });

  it("two sections with the same mid, and a BUNDLE group naming a mid no section has", () => {
    expect(refusal(offer(section("0"), section("0", [], "audio")))).toBe('two media sections have mid "0"');
    expect(refusal(offer(section("v"), section("v")))).toBe('two media sections have mid "v"');
    expect(refusal([...SESSION, "a=group:BUNDLE 0 7", ...section("0"), ""].join("\r\n"))).toBe(
      'a=group:BUNDLE names mid "7", which no section has',
    );
  });

  it("mids that are not 1-16 token characters; a NUL anywhere", () => {
    expect(refusal(edit("a=mid", "a=mid:0\u0000evil"))).toBe("control character in line 11");
    expect(refusal(edit("a=mid", `a=mid:${"m".repeat(17)}`))).toMatch(/^invalid mid "m{17}" \(1-16 token characters\)$/);
    expect(refusal(edit("a=mid", 'a=mid:a"b'))).toMatch(/^invalid mid/);
    expect(refusal(edit("a=mid", "a=mid:"))).toBe("a=mid needs a value");
    expect(refusal(edit("a=mid", "a=mid:\u00e9t\u00e9"))).toBe('invalid mid "\\u00e9t\\u00e9" (1-16 token characters)');
    expect(refusal([...SESSION, "a=group:BUNDLE 0 a,b", ...section("0"), ""].join("\r\n"))).toMatch(/^a=group invalid mid "a,b"/);
  });

  it("payload types outside 0-127, listed twice, or mapped twice", () => {
    expect(refusal(edit("m=video", "m=video 9 UDP/TLS/RTP/SAVPF 96 200"))).toBe('video m= line payload type "200" is not 0-127');
    expect(refusal(edit("m=video", "m=video 9 UDP/TLS/RTP/SAVPF 96 x"))).toBe('video m= line payload type "x" is not 0-127');
    expect(refusal(edit("m=video", "m=video 9 UDP/TLS/RTP/SAVPF 96 96"))).toBe("video m= line lists payload type 96 twice");
    expect(refusal(edit("a=rtpmap", "a=rtpmap:96 VP8/90000", "a=rtpmap:96 H264/90000"))).toBe("payload type 96 has two rtpmap lines");
    expect(refusal(edit("a=rtpmap", "a=rtpmap:96 VP8/90000", "a=fmtp:300 x=1"))).toBe('fmtp payload type "300" is not 0-127');
    expect(refusal(edit("a=rtpmap", "a=rtpmap:96 VP8/90000", "a=rtcp-fb:128 nack"))).toBe('rtcp-fb payload type "128" is not 0-127');
    expect(refusal(edit("a=rtpmap", "a=rtpmap:96 VP8/0"))).toMatch(/^malformed rtpmap/);
  });

  it("ports out of range, rids and extmap ids out of their grammar", () => {
    expect(refusal(edit("m=video", "m=video 99999 UDP/TLS/RTP/SAVPF 96"))).toBe("m= port 99999 is not 0-65535");
    expect(refusal(edit("a=sendonly", "a=sendonly", "a=rid:h\u00e9 send"))).toMatch(/^invalid rid/);
    expect(refusal(edit("a=sendonly", "a=sendonly", "a=rid:h sideways"))).toMatch(/^malformed rid/);
    expect(refusal(edit("a=sendonly", "a=sendonly", "a=rid:h send", "a=rid:h send"))).toBe('rid "h" appears twice in a section');
    expect(refusal(edit("a=sendonly", "a=sendonly", "a=extmap:0 urn:x"))).toBe("extmap id 0 is not 1-255");
    expect(refusal(edit("a=sendonly", "a=sendonly", "a=extmap:3 urn:x", "a=extmap:3 urn:y"))).toBe("extmap id 3 appears twice in a section");
    expect(refusal(edit("a=sendonly", "a=sendonly", "a=ssrc:99999999999 cname:x"))).toMatch(/^malformed ssrc/);
  });

  it("candidates with an impossible address, port, component, priority or transport", () => {
    const cand = (c: string) => refusal(edit("a=sendonly", "a=sendonly", `a=candidate:${c}`));
    expect(cand("1 1 udp 2122260223 999.1.1.1 5000 typ host")).toMatch(/^invalid candidate address/);
    expect(cand("1 1 udp 2122260223 10.0.0.1 99999999 typ host")).toMatch(/^invalid candidate port/);
    expect(cand("1 0 udp 2122260223 10.0.0.1 5000 typ host")).toMatch(/^invalid candidate component/);
    expect(cand("1 1 udp 99999999999 10.0.0.1 5000 typ host")).toMatch(/^invalid candidate priority/);
    expect(cand("1 1 sctp 2122260223 10.0.0.1 5000 typ host")).toMatch(/^invalid candidate transport/);
    expect(cand("1 1 udp 2122260223 10.0.0.1 5000 typ bogus")).toMatch(/^invalid candidate type/);
    expect(cand("1 1 udp 2122260223 10.0.0.1 5000 typ srflx raddr")).toMatch(/^invalid candidate \(wrong number/);
  });

  it("lines werift's parser throws on (found by fuzzing parseOffer against werift's SessionDescription.parse)", () => {
    expect(refusal(edit("c=", "c=IN IPX 0.0.0.0"))).toBe('malformed c= line "IN IPX 0.0.0.0"');
    expect(refusal(edit("m=video", "m=video 9 udp/tls/rtp/savpf 96"))).toMatch(/^malformed m= line/);
    expect(refusal(edit("m=video", "m=video 9/2 UDP/TLS/RTP/SAVPF 96"))).toMatch(/^malformed m= line/);
    expect(refusal(edit("m=video", "m=video 9 UDP/TLS/RTP/SAVPF"))).toMatch(/^malformed m= line/);
    for (const attr of ["rtcp-fb", "rtcp", "extmap", "ssrc", "ssrc-group", "sctp-port", "msid", "fingerprint", "setup", "group"]) {
      expect(refusal(edit("a=sendonly", "a=sendonly", `a=${attr}`)), attr).toBe(`a=${attr} needs a value`);
    }
    expect(refusal(edit("a=sendonly", "a=sendonly", "a=rtcp-fb:96"))).toMatch(/^malformed rtcp-fb/);
    expect(refusal(edit("a=sendonly", "a=sendonly", "a=rtcp:9"))).toMatch(/^malformed a=rtcp/);
    expect(refusal(edit("a=sendonly", "a=sendonly", "a=extmap:3"))).toMatch(/^malformed extmap/);
    expect(refusal(edit("a=sendonly", "a=sendonly", "a=ssrc:1234"))).toMatch(/^malformed ssrc/);
    expect(refusal(edit("a=setup", "a=setup:maybe"))).toMatch(/^a=setup must be/);
    expect(refusal(edit("a=fingerprint", `a=fingerprint:${FP}`, "a=fingerprint:sha-256"))).toBe("an a=fingerprint has no digest");
    // A bundled section with no credentials of its own or at session level: werift looks for them in later sections.
    const bare = ["m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 0.0.0.0", "a=mid:1", "a=sctp-port:5000"];
    expect(() => parseOffer([...SESSION, "a=group:BUNDLE 1 0", ...bare, ...section("0"), ""].join("\r\n"))).toThrow(
      "missing ICE credentials",
    );
    expect(() => parseOffer([...SESSION, ...section("0"), ...bare, ""].join("\r\n"))).not.toThrow();
  });

  it("the offer-level refusals are SdpError 'invalid'; the reference's classes stay 'missing'", () => {
    for (const sdp of ["", "hello", offer(), edit("a=ice-ufrag"), edit("a=fingerprint")]) {
      try {
        parseOffer(sdp);
        expect.unreachable();
      } catch (err) {
        expect((err as SdpError).kind).toBe("missing");
      }
    }
  });
});

describe("candidate grammar (RFC 8839)", () => {
  it("accepts the candidates real clients gather", () => {
    for (const c of [
      "842163049 1 udp 1677729535 1.2.3.4 56143 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag EsAw network-id 1 network-cost 10",
      "517845815 1 udp 2113937151 3cf56d45-84e8-4dc3-8a41-dd4e29c57c52.local 40189 typ host generation 0 network-cost 999",
      "2 1 TCP 1015021823 192.0.2.2 9 typ host tcptype active",
      "4 1 UDP 2015363583 fd00::2 45835 typ host",
      "7 1 UDP 2015363839 fe80::fc:ff:fe00:1 46288 typ host",
      "1 2 UDP 2122317823 192.168.1.10 50427 typ relay raddr 10.0.0.1 rport 3478",
    ]) {
      expect(candidateProblem(c), c).toBeUndefined();
    }
  });

  it("addresses: IPv4, IPv6, host names; not 999.1.1.1, 1.2.3, or a name with a bad label", () => {
    for (const ok of ["10.0.0.1", "::1", "2001:db8::1", "host-1.example.com", "abc.local"]) expect(isCandidateAddress(ok), ok).toBe(true);
    for (const bad of ["999.1.1.1", "1.2.3", "256.0.0.1", "-x.local", "a..b", "x_y.local", "", "1::2::3", "a".repeat(254)]) {
      expect(isCandidateAddress(bad), bad).toBe(false);
    }
  });
});

describe("PATCH fragments are refused, naming the problem", () => {
  const frag = (...lines: string[]) => [...lines, ""].join("\r\n");

  it("an ICE restart with credentials outside RFC 8839 (ice-ufrag:n / ice-pwd:p)", () => {
    expect(fragRefusal(frag("a=ice-ufrag:n", "a=ice-pwd:p"))).toBe("ice-ufrag must be 4-256 characters (has 1)");
    expect(fragRefusal(frag("a=ice-ufrag:abcd", "a=ice-pwd:p"))).toBe("ice-pwd must be 22-256 characters (has 1)");
    expect(fragRefusal(frag("a=ice-ufrag:ab cd", "a=ice-pwd:0123456789abcdefghijkl"))).toMatch(/^ice-ufrag may only hold/);
    expect(fragRefusal(frag("a=ice-ufrag:abcd", "a=ice-ufrag:efgh", "a=ice-pwd:0123456789abcdefghijkl"))).toBe("two different a=ice-ufrag");
  });

  it("a trickled candidate 999.1.1.1 port 99999999, or one with garbage", () => {
    expect(fragRefusal(frag("a=mid:0", "a=candidate:1 1 udp 2122260223 999.1.1.1 99999999 typ host"))).toMatch(/^invalid candidate address/);
    expect(fragRefusal(frag("a=mid:0", "a=candidate:1 1 udp 2122260223 1.1.1.1 99999999 typ host"))).toMatch(/^invalid candidate port/);
    expect(fragRefusal(frag("a=candidate:garbage"))).toMatch(/^invalid candidate/);
  });

  it("too many candidates, sections, lines; a NUL; a bad mid", () => {
    const c = (i: number) => `a=candidate:${i} 1 udp 2122260223 10.0.0.1 ${1000 + i} typ host`;
    expect(fragRefusal(frag("a=mid:0", ...Array.from({ length: 65 }, (_, i) => c(i))))).toBe("more than 64 candidates");
    expect(fragRefusal(frag(...Array.from({ length: 17 }, () => "m=audio 9 UDP/TLS/RTP/SAVPF 0")))).toBe("more than 16 media sections");
    expect(fragRefusal("a=end-of-candidates\r\n".repeat(600))).toBe("more than 512 lines");
    expect(fragRefusal(frag("a=mid:0\u0000"))).toBe("control character in line 1");
    expect(fragRefusal(frag(`a=mid:${"m".repeat(17)}`))).toMatch(/^invalid mid/);
  });

  it("still reads what clients send: trickle, restart, end-of-candidates", () => {
    const f = parseSdpFrag(
      frag(
        "a=ice-ufrag:EsAw",
        "a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1",
        "m=audio 9 UDP/TLS/RTP/SAVPF 0",
        "a=mid:0",
        "a=candidate:517845815 1 udp 2113937151 3cf56d45-84e8-4dc3-8a41-dd4e29c57c52.local 40189 typ host generation 0",
        "a=end-of-candidates",
      ),
    );
    expect(f).toMatchObject({ ufrag: "EsAw", pwd: "P2uYro0UCOQ4zxjKXaWCBui1", mids: ["0"], endOfCandidates: true });
    expect(f.candidates).toHaveLength(1);
    expect(f.candidates[0]).toMatchObject({ mid: "0", mLineIndex: 0 });
  });
});
