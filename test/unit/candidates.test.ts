import { describe, expect, it } from "vitest";
import { rewriteCandidates } from "../../src/rtc/peer.ts";

/** An answer as werift writes it: every server candidate in each bundled section, CRLF line ends. */
const ANSWER = [
  "v=0",
  "o=- 1 0 IN IP4 0.0.0.0",
  "s=-",
  "t=0 0",
  "a=group:BUNDLE 0 1",
  "m=audio 9 UDP/TLS/RTP/SAVPF 111",
  "c=IN IP4 0.0.0.0",
  "a=candidate:1a2b 1 udp 2130706431 172.17.0.2 40001 typ host",
  "a=candidate:3c4d 1 udp 2130706175 10.0.0.5 40001 typ host",
  "a=candidate:5e6f 1 udp 1694498815 198.51.100.9 40001 typ srflx raddr 172.17.0.2 rport 40001",
  "a=candidate:7a8b 1 udp 16777215 192.0.2.50 3478 typ relay raddr 198.51.100.9 rport 40001",
  "a=end-of-candidates",
  "a=ice-ufrag:srvu",
  "a=ice-pwd:serverpassword0123456789",
  "a=mid:0",
  "a=rtpmap:111 opus/48000/2",
  "m=video 9 UDP/TLS/RTP/SAVPF 96",
  "c=IN IP4 0.0.0.0",
  "a=candidate:9c0d 1 udp 2130706431 172.17.0.2 40002 typ host generation 0",
  "a=end-of-candidates",
  "a=mid:1",
  "a=rtpmap:96 VP8/90000",
  "",
].join("\r\n");

const candidates = (sdp: string) => sdp.split("\r\n").filter((l) => l.startsWith("a=candidate:"));

describe("rewriteCandidates", () => {
  it("is a no-op without announced IPs", () => {
    expect(rewriteCandidates(ANSWER, [])).toBe(ANSWER);
  });

  it("replaces host candidates with the announced IP on the same port", () => {
    const out = rewriteCandidates(ANSWER, ["203.0.113.7"]);
    expect(candidates(out)).toEqual([
      "a=candidate:a040001 1 udp 2130706431 203.0.113.7 40001 typ host",
      "a=candidate:5e6f 1 udp 1694498815 198.51.100.9 40001 typ srflx raddr 172.17.0.2 rport 40001",
      "a=candidate:7a8b 1 udp 16777215 192.0.2.50 3478 typ relay raddr 198.51.100.9 rport 40001",
      "a=candidate:a040002 1 udp 2130706431 203.0.113.7 40002 typ host generation 0",
    ]);
    expect(out).not.toContain("172.17.0.2 40001 typ host");
    expect(out).not.toContain("10.0.0.5");
  });

  it("keeps every non-candidate line in place", () => {
    const out = rewriteCandidates(ANSWER, ["203.0.113.7"]);
    const rest = (sdp: string) => sdp.split("\r\n").filter((l) => !l.startsWith("a=candidate:"));
    expect(rest(out)).toEqual(rest(ANSWER));
    expect(out.endsWith("\r\n")).toBe(true);
  });

  it("writes one candidate per announced IP, first IP preferred, distinct foundations", () => {
    const out = rewriteCandidates(ANSWER, ["203.0.113.7", "2001:db8::7"]);
    const hosts = candidates(out).filter((l) => l.includes("typ host"));
    expect(hosts).toEqual([
      "a=candidate:a040001 1 udp 2130706431 203.0.113.7 40001 typ host",
      "a=candidate:a140001 1 udp 2130706430 2001:db8::7 40001 typ host",
      "a=candidate:a040002 1 udp 2130706431 203.0.113.7 40002 typ host generation 0",
      "a=candidate:a140002 1 udp 2130706430 2001:db8::7 40002 typ host generation 0",
    ]);
  });

  it("dedupes host candidates that map to the same address and port", () => {
    const sdp = [
      "m=video 9 UDP/TLS/RTP/SAVPF 96",
      "a=candidate:1 1 udp 2130706431 172.17.0.2 40001 typ host",
      "a=candidate:2 1 udp 2130706431 10.0.0.5 40001 typ host",
      "a=candidate:3 1 udp 2130706431 127.0.0.1 40001 typ host",
      "a=candidate:4 1 tcp 1518280447 172.17.0.2 40001 typ host tcptype passive",
      "",
    ].join("\r\n");
    const out = rewriteCandidates(sdp, ["203.0.113.7", "203.0.113.7"]);
    const lines = candidates(out);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe("a=candidate:a040001 1 udp 2130706431 203.0.113.7 40001 typ host");
    // udp and tcp on one port are different transport addresses, so both stay.
    expect(lines[1]).toMatch(/^a=candidate:\S+ 1 tcp 1518280447 203\.0\.113\.7 40001 typ host tcptype passive$/);
  });

  it("rewrites a bundled answer that repeats the candidates in every section", () => {
    const section = (kind: string, mid: string) => [
      `m=${kind} 9 UDP/TLS/RTP/SAVPF 96`,
      "a=candidate:1 1 udp 2130706431 172.17.0.2 40001 typ host",
      "a=candidate:2 1 udp 2130706431 10.0.0.5 40001 typ host",
      "a=end-of-candidates",
      `a=mid:${mid}`,
    ];
    const sdp = ["v=0", "a=group:BUNDLE 0 1", ...section("audio", "0"), ...section("video", "1"), ""].join("\r\n");
    const out = rewriteCandidates(sdp, ["203.0.113.7"]);
    const firstSection = out.split("m=video")[0] ?? "";
    expect(candidates(firstSection)).toEqual(["a=candidate:a040001 1 udp 2130706431 203.0.113.7 40001 typ host"]);
    expect(out).not.toMatch(/172\.17\.0\.2|10\.0\.0\.5/);
    expect(out.split("\r\n").filter((l) => l === "a=end-of-candidates")).toHaveLength(2);
  });

  it("keeps each section's candidate in an answer without BUNDLE (one ICE agent per section on the one port)", () => {
    // werift's answer to GStreamer's default offer: two ICE agents, both on the mux's port.
    const section = (kind: string, mid: string, ufrag: string) => [
      `m=${kind} 9 UDP/TLS/RTP/SAVPF 96`,
      `a=candidate:1 1 udp 2130706431 172.17.0.2 40001 typ host generation 0 ufrag ${ufrag}`,
      "a=end-of-candidates",
      `a=ice-ufrag:${ufrag}`,
      `a=mid:${mid}`,
    ];
    const sdp = ["v=0", ...section("video", "video0", "aaaa"), ...section("audio", "audio1", "bbbb"), ""].join("\r\n");
    const out = rewriteCandidates(sdp, ["203.0.113.7"]);
    const [, video, audio] = out.split(/\r\n(?=m=)/);
    expect(candidates(video ?? "")).toEqual(["a=candidate:a040001 1 udp 2130706431 203.0.113.7 40001 typ host generation 0 ufrag aaaa"]);
    expect(candidates(audio ?? "")).toEqual(["a=candidate:a040001 1 udp 2130706431 203.0.113.7 40001 typ host generation 0 ufrag bbbb"]);
  });

  it("leaves srflx, prflx and relay candidates alone", () => {
    const sdp = [
      "a=candidate:5 1 udp 1694498815 198.51.100.9 40001 typ srflx raddr 0.0.0.0 rport 0",
      "a=candidate:6 1 udp 1845501695 198.51.100.10 40009 typ prflx raddr 0.0.0.0 rport 0",
      "a=candidate:7 1 udp 16777215 192.0.2.50 3478 typ relay raddr 0.0.0.0 rport 0",
    ].join("\r\n");
    expect(rewriteCandidates(sdp, ["203.0.113.7"])).toBe(sdp);
  });
});
