import { describe, expect, it } from "vitest";
import { activeMedia, fmtpParams, parseOffer, SdpError, type ParsedOffer } from "../../src/rtc/sdp.ts";
import { loadSdp } from "../fixtures/fixtures.ts";

const FP = "sha-256 5C:0E:FC:5A:04:63:87:A9:C7:65:CD:C6:65:7B:75:B8:7A:33:B2:B2:41:D0:02:F7:CD:96:47:6C:D2:F4:66:D9";

/** A minimal valid offer, with lines that tests can drop or replace. */
function offer(opts: { session?: string[]; media?: string[] } = {}): string {
  const session = opts.session ?? ["v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0"];
  const media = opts.media ?? [
    "m=video 9 UDP/TLS/RTP/SAVPF 96",
    "c=IN IP4 0.0.0.0",
    "a=ice-ufrag:abcd",
    "a=ice-pwd:0123456789abcdefghijkl",
    `a=fingerprint:${FP}`,
    "a=setup:actpass",
    "a=mid:0",
    "a=sendonly",
    "a=rtpmap:96 VP8/90000",
  ];
  return [...session, ...media, ""].join("\r\n");
}

function sdpError(sdp: string): SdpError {
  try {
    parseOffer(sdp);
  } catch (err) {
    expect(err).toBeInstanceOf(SdpError);
    return err as SdpError;
  }
  throw new Error("parseOffer did not throw");
}

function without(lines: string[], prefix: string): string[] {
  return lines.filter((l) => !l.startsWith(prefix));
}

describe("parseOffer accepts real offers", () => {
  it("Chromium publish offer: audio + simulcast video with VP8/VP9/H264/AV1, rtx, red, ulpfec", () => {
    const o = parseOffer(loadSdp("chromium-publish"));
    expect(o.iceUfrag).toBe("Zr9X");
    expect(o.icePwd).toBe("8Hd5gNd2yT5M0mPj2vYq+6Ka");
    expect(o.media.map((m) => [m.kind, m.mid, m.direction, m.port])).toEqual([
      ["audio", "0", "sendonly", 9],
      ["video", "1", "sendonly", 9],
    ]);
    const [audio, video] = o.media;
    expect(audio?.codecs.map((c) => `${c.payloadType}:${c.name}`)).toEqual([
      "111:opus",
      "63:red",
      "9:G722",
      "0:PCMU",
      "8:PCMA",
      "13:CN",
      "110:telephone-event",
      "126:telephone-event",
    ]);
    expect(audio?.codecs[0]).toEqual({
      payloadType: 111,
      name: "opus",
      clockRate: 48000,
      channels: 2,
      fmtp: "minptime=10;useinbandfec=1",
      rtcpFb: ["transport-cc"],
    });
    expect(audio?.rids).toEqual([]);
    expect(audio?.extmap).toContainEqual({ id: 4, uri: "urn:ietf:params:rtp-hdrext:sdes:mid" });

    // Codecs keep the m-line's order of preference.
    expect(video?.codecs.map((c) => c.payloadType)).toEqual([
      96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 127, 125, 39, 40, 45, 46, 112, 113, 116, 117, 118,
    ]);
    const names = new Set(video?.codecs.map((c) => c.name));
    expect([...names].sort()).toEqual(["AV1", "H264", "VP8", "VP9", "red", "rtx", "ulpfec"]);
    expect(video?.codecs.find((c) => c.payloadType === 96)).toEqual({
      payloadType: 96,
      name: "VP8",
      clockRate: 90000,
      channels: undefined,
      fmtp: "",
      rtcpFb: ["goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"],
    });
    expect(video?.codecs.find((c) => c.payloadType === 97)?.fmtp).toBe("apt=96");
    expect(video?.codecs.find((c) => c.payloadType === 100)?.fmtp).toBe("profile-id=2");
    expect(video?.codecs.find((c) => c.payloadType === 45)).toMatchObject({ name: "AV1", fmtp: "level-idx=5;profile=0;tier=0" });
    expect(video?.codecs.find((c) => c.payloadType === 106)?.fmtp).toBe(
      "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
    );
    expect(video?.rids).toEqual(["q", "h", "f"]);
    expect(video?.extmap).toContainEqual({ id: 10, uri: "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id" });
    expect(video?.extmap).toHaveLength(11);
  });

  it("OBS (libdatachannel) offer: session-level ICE and fingerprint, H264 High 640c1f", () => {
    const o = parseOffer(loadSdp("obs-h264-high"));
    expect(o.iceUfrag).toBe("Lx8T");
    expect(o.icePwd).toBe("Y3PeNEG2rXq4dVzhtALqgj");
    expect(o.media).toHaveLength(2);
    expect(o.media[0]).toMatchObject({ kind: "audio", mid: "0", direction: "sendonly", port: 50427 });
    expect(o.media[0]?.codecs).toEqual([
      {
        payloadType: 111,
        name: "opus",
        clockRate: 48000,
        channels: 2,
        fmtp: "minptime=10;maxaveragebitrate=96000;stereo=1;sprop-stereo=1;useinbandfec=1",
        rtcpFb: [],
      },
    ]);
    expect(o.media[1]).toMatchObject({ kind: "video", mid: "1", direction: "sendonly", rids: [] });
    expect(o.media[1]?.codecs).toEqual([
      {
        payloadType: 96,
        name: "H264",
        clockRate: 90000,
        channels: undefined,
        fmtp: "profile-level-id=640c1f;packetization-mode=1;level-asymmetry-allowed=1",
        rtcpFb: ["nack", "nack pli", "goog-remb"],
      },
    ]);
  });

  it("WHEP recvonly offer", () => {
    const o = parseOffer(loadSdp("whep-recvonly"));
    expect(o.iceUfrag).toBe("pQ3v");
    expect(o.media.map((m) => `${m.kind}:${m.direction}`)).toEqual(["audio:recvonly", "video:recvonly"]);
    const h264 = o.media[1]?.codecs.filter((c) => c.name === "H264").map((c) => c.payloadType);
    expect(h264).toEqual([102, 104, 106, 108, 127, 39, 112, 114]);
  });

  it("accepts LF-only line ends", () => {
    const o = parseOffer(loadSdp("obs-h264-high").replace(/\r\n/g, "\n"));
    expect(o.media.map((m) => m.kind)).toEqual(["audio", "video"]);
  });

  it("keeps a data channel section and a rejected (port 0) section in media", () => {
    const base = offer().trimEnd().split("\r\n");
    const sdp = [
      ...base,
      "m=audio 0 UDP/TLS/RTP/SAVPF 111",
      "a=mid:1",
      "a=rtpmap:111 opus/48000/2",
      "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
      "a=mid:2",
      "a=sctp-port:5000",
      "",
    ].join("\r\n");
    const o = parseOffer(sdp);
    expect(o.media.map((m) => [m.kind, m.port, m.codecs.length])).toEqual([
      ["video", 9, 1],
      ["audio", 0, 1],
      ["application", 9, 0],
    ]);
  });

  it("defaults the direction to sendrecv and applies rtcp-fb *", () => {
    const media = without(offer().trimEnd().split("\r\n").slice(5), "a=sendonly");
    const o = parseOffer(offer({ media: [...media, "a=rtcp-fb:* nack"] }));
    expect(o.media[0]?.direction).toBe("sendrecv");
    expect(o.media[0]?.codecs[0]?.rtcpFb).toEqual(["nack"]);
  });
});

describe("parseOffer rejects unusable offers with a reason", () => {
  const mediaLines = offer().trimEnd().split("\r\n").slice(5);

  it("empty body", () => {
    expect(sdpError("").detail).toBe("empty body");
    expect(sdpError("").message).toBe("invalid SDP: empty body");
  });

  it("garbage text", () => {
    expect(sdpError("hello, I am not an SDP").detail).toBe("does not start with v=0");
    expect(sdpError("<html><body>502 Bad Gateway</body></html>").detail).toBe("does not start with v=0");
    expect(sdpError("v=0\r\nthis is not sdp\r\n").detail).toBe('malformed line "this is not sdp"');
  });

  it("no v=0 first line", () => {
    const lines = offer().split("\r\n").slice(1);
    expect(sdpError(lines.join("\r\n")).detail).toBe("does not start with v=0");
    expect(sdpError(offer().replace("v=0", "v=1")).detail).toBe("does not start with v=0");
  });

  it("no media section", () => {
    expect(sdpError(offer({ media: [] })).detail).toBe("no audio or video section");
  });

  it("only an application m-line", () => {
    const sdp = offer({
      media: [
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "a=ice-ufrag:abcd",
        "a=ice-pwd:0123456789abcdefghijkl",
        `a=fingerprint:${FP}`,
        "a=mid:0",
        "a=sctp-port:5000",
      ],
    });
    expect(sdpError(sdp).detail).toBe("no audio or video section");
  });

  it("only rejected (port 0) media", () => {
    const media = mediaLines.map((l) => (l.startsWith("m=video") ? "m=video 0 UDP/TLS/RTP/SAVPF 96" : l));
    expect(sdpError(offer({ media })).detail).toBe("no audio or video section");
  });

  it("missing ice-ufrag", () => {
    expect(sdpError(offer({ media: without(mediaLines, "a=ice-ufrag") })).detail).toBe(
      "missing ICE credentials (a=ice-ufrag / a=ice-pwd)",
    );
  });

  it("missing ice-pwd", () => {
    expect(sdpError(offer({ media: without(mediaLines, "a=ice-pwd") })).detail).toBe(
      "missing ICE credentials (a=ice-ufrag / a=ice-pwd)",
    );
  });

  it("missing fingerprint", () => {
    expect(sdpError(offer({ media: without(mediaLines, "a=fingerprint") })).detail).toBe(
      "missing DTLS fingerprint (a=fingerprint)",
    );
  });

  it("malformed fingerprint", () => {
    const media = mediaLines.map((l) => (l.startsWith("a=fingerprint") ? "a=fingerprint:sha-256" : l));
    expect(sdpError(offer({ media })).detail).toBe("missing DTLS fingerprint (a=fingerprint)");
  });

  it("malformed rtpmap", () => {
    for (const bad of ["a=rtpmap:96 VP8", "a=rtpmap:96", "a=rtpmap:x VP8/90000", "a=rtpmap:96 VP8/fast"]) {
      const media = mediaLines.map((l) => (l.startsWith("a=rtpmap") ? bad : l));
      expect(sdpError(offer({ media })).detail).toMatch(/^malformed rtpmap "/);
    }
  });

  it("malformed m= line", () => {
    const media = mediaLines.map((l) => (l.startsWith("m=") ? "m=video nine UDP/TLS/RTP/SAVPF 96" : l));
    expect(sdpError(offer({ media })).detail).toMatch(/^malformed m= line/);
  });

  it("media with no codecs", () => {
    expect(sdpError(offer({ media: without(mediaLines, "a=rtpmap") })).detail).toBe("video section has no codecs");
    // An rtpmap for a payload type the m-line does not list does not count.
    const media = mediaLines.map((l) => (l.startsWith("a=rtpmap") ? "a=rtpmap:97 VP8/90000" : l));
    expect(sdpError(offer({ media })).detail).toBe("video section has no codecs");
  });

  it("a second media section without credentials", () => {
    const sdp = offer({ media: [...mediaLines, "m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=mid:1", "a=rtpmap:111 opus/48000/2"] });
    expect(sdpError(sdp).detail).toBe("missing ICE credentials (a=ice-ufrag / a=ice-pwd)");
  });
});

describe("activeMedia", () => {
  const publish = parseOffer(loadSdp("chromium-publish"));
  const play = parseOffer(loadSdp("whep-recvonly"));

  it("picks sendonly/sendrecv sections for send and recvonly/sendrecv for recv", () => {
    expect(activeMedia(publish, "send").map((m) => m.kind)).toEqual(["audio", "video"]);
    expect(activeMedia(publish, "recv")).toEqual([]);
    expect(activeMedia(play, "recv").map((m) => m.kind)).toEqual(["audio", "video"]);
    expect(activeMedia(play, "send")).toEqual([]);
  });

  it("leaves out inactive, rejected and non-media sections", () => {
    const base = (k: "audio" | "video", over: Partial<ParsedOffer["media"][number]>) => ({
      kind: k,
      mid: undefined,
      direction: "sendrecv" as const,
      port: 9,
      codecs: [],
      rids: [],
      extmap: [],
      ...over,
    });
    const o: ParsedOffer = {
      iceUfrag: "u",
      icePwd: "p",
      media: [
        base("audio", { mid: "a", direction: "inactive" }),
        base("video", { mid: "b", port: 0 }),
        { ...base("video", {}), kind: "application", mid: "c" },
        base("video", { mid: "d" }),
        base("audio", { mid: "e", direction: "sendonly" }),
      ],
    };
    expect(activeMedia(o, "recv").map((m) => m.mid)).toEqual(["d"]);
    expect(activeMedia(o, "send").map((m) => m.mid)).toEqual(["d", "e"]);
  });
});

describe("fmtpParams", () => {
  it("parses key=value pairs with lower-cased keys", () => {
    const p = fmtpParams("level-asymmetry-allowed=1;Packetization-Mode=1; profile-level-id=42E01F");
    expect([...p]).toEqual([
      ["level-asymmetry-allowed", "1"],
      ["packetization-mode", "1"],
      ["profile-level-id", "42E01F"],
    ]);
  });

  it("skips parts without = and handles empty input", () => {
    expect([...fmtpParams("111/111")]).toEqual([]);
    expect(fmtpParams("").size).toBe(0);
    expect([...fmtpParams("apt=96;;junk")]).toEqual([["apt", "96"]]);
  });

  it("keeps = inside values", () => {
    expect(fmtpParams("x=a=b").get("x")).toBe("a=b");
  });
});
