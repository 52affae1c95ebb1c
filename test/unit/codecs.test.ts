import { describe, expect, it } from "vitest";
import { chooseViewerCodec, choosePublisherCodec, codecName, describeCodec, offeredCodecNames, type CodecInfo } from "../../src/rtc/codecs.ts";
import { parseOffer, type OfferedCodec, type OfferedMedia } from "../../src/rtc/sdp.ts";
import { loadSdp } from "../fixtures/fixtures.ts";

const FULL_FB = ["goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"];

function codec(payloadType: number, name: string, fmtp = "", rtcpFb: string[] = FULL_FB): OfferedCodec {
  const audio = name.toLowerCase() === "opus";
  return { payloadType, name, clockRate: audio ? 48000 : 90000, channels: audio ? 2 : undefined, fmtp, rtcpFb };
}

function media(kind: OfferedMedia["kind"], codecs: OfferedCodec[]): OfferedMedia {
  return { kind, mid: "0", direction: "sendrecv", port: 9, codecs, rids: [], extmap: [] };
}

const h264 = (pt: number, profile: string, mode: 0 | 1) =>
  codec(pt, "H264", `level-asymmetry-allowed=1;packetization-mode=${mode};profile-level-id=${profile}`);

/** What a Chromium viewer offers for H264: 42001f, 42e01f, 4d001f, 64001f, each in mode 1 and mode 0. */
const CHROMIUM_H264_VIEWER = media("video", [
  codec(96, "VP8"),
  codec(97, "rtx", "apt=96", []),
  h264(102, "42001f", 1),
  h264(104, "42001f", 0),
  h264(106, "42e01f", 1),
  h264(108, "42e01f", 0),
  h264(127, "4d001f", 1),
  h264(39, "4d001f", 0),
  h264(112, "64001f", 1),
  h264(114, "64001f", 0),
]);

function publisherCodec(m: OfferedMedia): CodecInfo {
  const c = choosePublisherCodec(m);
  if (!c) throw new Error("no publisher codec");
  return c;
}

describe("choosePublisherCodec", () => {
  it("picks the first forwardable codec in offer order (Chromium: opus, VP8)", () => {
    const o = parseOffer(loadSdp("chromium-publish"));
    const [audio, video] = o.media;
    expect(choosePublisherCodec(audio as OfferedMedia)).toEqual({
      kind: "audio",
      mimeType: "audio/opus",
      clockRate: 48000,
      channels: 2,
      payloadType: 111,
      fmtp: "minptime=10;useinbandfec=1",
      rtcpFb: ["transport-cc"],
    });
    expect(choosePublisherCodec(video as OfferedMedia)).toEqual({
      kind: "video",
      mimeType: "video/VP8",
      clockRate: 90000,
      channels: undefined,
      payloadType: 96,
      fmtp: "",
      rtcpFb: ["goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"],
    });
  });

  it("skips rtx, red, ulpfec and unknown codecs", () => {
    const m = media("video", [
      codec(97, "rtx", "apt=96", []),
      codec(116, "red"),
      codec(118, "ulpfec"),
      codec(120, "MPV"),
      codec(45, "AV1", "profile=0"),
      codec(96, "VP8"),
    ]);
    expect(publisherCodec(m)).toMatchObject({ mimeType: "video/AV1", payloadType: 45, fmtp: "profile=0" });
    const audio = media("audio", [codec(0, "PCMU"), codec(9, "G722"), codec(111, "opus")]);
    expect(publisherCodec(audio)).toMatchObject({ mimeType: "audio/opus", payloadType: 111 });
  });

  it("matches names case-insensitively and writes the canonical spelling", () => {
    expect(publisherCodec(media("video", [codec(100, "vp9", "profile-id=0")]))).toMatchObject({
      mimeType: "video/VP9",
      payloadType: 100,
    });
    expect(publisherCodec(media("audio", [codec(111, "OPUS")])).mimeType).toBe("audio/opus");
    const viewer = media("video", [codec(100, "vp8")]);
    expect(chooseViewerCodec(publisherCodec(media("video", [codec(96, "VP8")])), viewer)).toMatchObject({
      mimeType: "video/VP8",
      payloadType: 100,
    });
  });

  it("drops feedback werift does not implement", () => {
    const m = media("video", [codec(96, "VP8", "", ["nack", "goog-lntf", "ccm tmmbr", "transport-cc"])]);
    expect(publisherCodec(m).rtcpFb).toEqual(["nack", "transport-cc"]);
  });

  it("takes the OBS High profile H264 as offered", () => {
    const video = parseOffer(loadSdp("obs-h264-high")).media[1] as OfferedMedia;
    expect(publisherCodec(video)).toEqual({
      kind: "video",
      mimeType: "video/H264",
      clockRate: 90000,
      channels: undefined,
      payloadType: 96,
      fmtp: "profile-level-id=640c1f;packetization-mode=1;level-asymmetry-allowed=1",
      rtcpFb: ["nack", "nack pli", "goog-remb"],
    });
  });

  it("prefers H264 packetization-mode=1 when H264 comes first", () => {
    const m = media("video", [h264(104, "42001f", 0), h264(108, "42e01f", 0), h264(106, "42e01f", 1), codec(96, "VP8")]);
    expect(publisherCodec(m)).toMatchObject({ mimeType: "video/H264", payloadType: 106 });
  });

  it("keeps H264 mode 0 when no mode 1 is offered", () => {
    expect(publisherCodec(media("video", [h264(104, "42001f", 0), codec(96, "VP8")])).payloadType).toBe(104);
  });

  it("does not jump to a later H264 when another codec comes first", () => {
    expect(publisherCodec(media("video", [codec(96, "VP8"), h264(102, "42e01f", 1)])).payloadType).toBe(96);
  });

  it("returns undefined without a forwardable codec or for non-media sections", () => {
    expect(choosePublisherCodec(media("video", [codec(97, "rtx", "apt=96", []), codec(120, "MPV")]))).toBeUndefined();
    expect(choosePublisherCodec(media("audio", [codec(0, "PCMU"), codec(8, "PCMA")]))).toBeUndefined();
    expect(choosePublisherCodec(media("application", [codec(96, "VP8")]))).toBeUndefined();
  });
});

describe("chooseViewerCodec", () => {
  it("VP8 publisher, viewer offering H264 first: the viewer's VP8 entry and payload type", () => {
    const source = publisherCodec(media("video", [codec(96, "VP8")]));
    const viewer = media("video", [h264(102, "42e01f", 1), codec(120, "VP8", "", ["nack", "nack pli", "goog-remb", "transport-cc"])]);
    expect(chooseViewerCodec(source, viewer)).toEqual({
      kind: "video",
      mimeType: "video/VP8",
      clockRate: 90000,
      channels: undefined,
      payloadType: 120,
      fmtp: "",
      // Viewer feedback keeps only what the server acts on: NACK, PLI, FIR and REMB (for layer adaptation).
      rtcpFb: ["nack", "nack pli", "goog-remb"],
    });
  });

  it("H264 42e01f mode 1 publisher, Chromium viewer: exactly the 42e01f mode 1 entry", () => {
    const source = publisherCodec(media("video", [h264(102, "42e01f", 1)]));
    expect(chooseViewerCodec(source, CHROMIUM_H264_VIEWER)).toEqual({
      kind: "video",
      mimeType: "video/H264",
      clockRate: 90000,
      channels: undefined,
      payloadType: 106,
      fmtp: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
      rtcpFb: ["goog-remb", "ccm fir", "nack", "nack pli"],
    });
  });

  it("H264 42e01f mode 1 publisher, the WHEP fixture: PT 106", () => {
    const source = publisherCodec(media("video", [h264(102, "42e01f", 1)]));
    const viewer = parseOffer(loadSdp("whep-recvonly")).media[1] as OfferedMedia;
    expect(chooseViewerCodec(source, viewer)?.payloadType).toBe(106);
  });

  it("H264 mode 0 publisher gets a mode 0 entry", () => {
    const source = publisherCodec(media("video", [h264(102, "42e01f", 0)]));
    expect(chooseViewerCodec(source, CHROMIUM_H264_VIEWER)?.payloadType).toBe(108);
  });

  it("OBS High 640c1f publisher: the viewer's 64001f mode 1 entry", () => {
    const source = publisherCodec(parseOffer(loadSdp("obs-h264-high")).media[1] as OfferedMedia);
    expect(chooseViewerCodec(source, CHROMIUM_H264_VIEWER)).toMatchObject({
      mimeType: "video/H264",
      payloadType: 112,
      fmtp: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f",
    });
    const viewer = parseOffer(loadSdp("whep-recvonly")).media[1] as OfferedMedia;
    expect(chooseViewerCodec(source, viewer)?.payloadType).toBe(112);
  });

  it("falls back to another H264 profile with the same packetization mode", () => {
    const source = publisherCodec(parseOffer(loadSdp("obs-h264-high")).media[1] as OfferedMedia);
    const baselineOnly = media("video", [h264(104, "42e01f", 0), h264(102, "42e01f", 1)]);
    expect(chooseViewerCodec(source, baselineOnly)?.payloadType).toBe(102);
  });

  it("Constrained Baseline publisher prefers Constrained Baseline, then Baseline", () => {
    const source = publisherCodec(media("video", [h264(102, "42e01f", 1)]));
    const noCb = media("video", [h264(127, "4d001f", 1), h264(102, "42001f", 1)]);
    expect(chooseViewerCodec(source, noCb)?.payloadType).toBe(102);
  });

  it("refuses H264 when only the other packetization mode is offered", () => {
    const source = publisherCodec(media("video", [h264(102, "42e01f", 1)]));
    expect(chooseViewerCodec(source, media("video", [h264(108, "42e01f", 0), codec(96, "VP8")]))).toBeUndefined();
  });

  it("matches the VP9 profile", () => {
    const viewer = media("video", [codec(98, "VP9", "profile-id=0"), codec(100, "VP9", "profile-id=2")]);
    const p2 = publisherCodec(media("video", [codec(100, "VP9", "profile-id=2")]));
    expect(chooseViewerCodec(p2, viewer)).toMatchObject({ mimeType: "video/VP9", payloadType: 100, fmtp: "profile-id=2" });
    const p0 = publisherCodec(media("video", [codec(98, "VP9", "profile-id=0")]));
    expect(chooseViewerCodec(p0, viewer)?.payloadType).toBe(98);
    // No profile-id means profile 0.
    const bare = publisherCodec(media("video", [codec(98, "VP9")]));
    expect(chooseViewerCodec(bare, viewer)?.payloadType).toBe(98);
    expect(chooseViewerCodec(p2, media("video", [codec(98, "VP9", "profile-id=0")]))).toBeUndefined();
  });

  it("opus publisher: the viewer's opus entry", () => {
    const source = publisherCodec(parseOffer(loadSdp("obs-h264-high")).media[0] as OfferedMedia);
    const viewer = parseOffer(loadSdp("whep-recvonly")).media[0] as OfferedMedia;
    expect(chooseViewerCodec(source, viewer)).toEqual({
      kind: "audio",
      mimeType: "audio/opus",
      clockRate: 48000,
      channels: 2,
      payloadType: 111,
      // OBS sends stereo (stereo=1;sprop-stereo=1): the viewer's answer says so, or its decoder would be mono.
      fmtp: "minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1",
      rtcpFb: [],
    });
  });

  it("returns undefined when the viewer lacks the codec or the kind differs", () => {
    const av1 = publisherCodec(media("video", [codec(45, "AV1")]));
    expect(chooseViewerCodec(av1, CHROMIUM_H264_VIEWER)).toBeUndefined();
    const vp8 = publisherCodec(media("video", [codec(96, "VP8")]));
    expect(chooseViewerCodec(vp8, media("video", [h264(102, "42e01f", 1)]))).toBeUndefined();
    expect(chooseViewerCodec(vp8, media("audio", [codec(96, "VP8")]))).toBeUndefined();
    // Same name at another clock rate is not the same codec.
    expect(chooseViewerCodec(vp8, media("video", [{ ...codec(96, "VP8"), clockRate: 8000 }]))).toBeUndefined();
  });
});

describe("chooseViewerCodec, H265 (RFC 7798 profile-id / tier-flag / level-id)", () => {
  const h265 = (pt: number, fmtp: string) => codec(pt, "H265", fmtp);
  /** Chrome 136+ with hardware HEVC decoding: Main and Main 10 at level 6 (180). */
  const CHROME_HEVC_VIEWER = media("video", [
    codec(96, "VP8"),
    h265(49, "level-id=180;profile-id=1;tier-flag=0;tx-mode=SRST"),
    h265(51, "level-id=180;profile-id=2;tier-flag=0;tx-mode=SRST"),
    h264(102, "42e01f", 1),
  ]);
  /** OBS's HEVC offer from libdatachannel: addH265Codec writes no fmtp (Main, level 3.1 by RFC 7798's defaults). */
  const obs = publisherCodec(media("video", [codec(96, "H265")]));
  const main41 = publisherCodec(media("video", [h265(98, "profile-id=1;level-id=123")]));
  const main10 = publisherCodec(media("video", [h265(98, "profile-id=2;level-id=120;tier-flag=0")]));

  it("gives a Main stream the viewer's Main entry, and a Main 10 stream its Main 10 entry", () => {
    expect(obs.mimeType).toBe("video/H265");
    expect(chooseViewerCodec(obs, CHROME_HEVC_VIEWER)).toMatchObject({ mimeType: "video/H265", payloadType: 49 });
    expect(chooseViewerCodec(main41, CHROME_HEVC_VIEWER)?.payloadType).toBe(49);
    expect(chooseViewerCodec(main10, CHROME_HEVC_VIEWER)).toMatchObject({ payloadType: 51, fmtp: "level-id=180;profile-id=2;tier-flag=0;tx-mode=SRST" });
  });

  it("prefers the entry whose level is nearest above the stream's", () => {
    const viewer = media("video", [h265(100, "profile-id=1;level-id=180"), h265(101, "profile-id=1;level-id=123"), h265(102, "profile-id=1;level-id=93")]);
    expect(chooseViewerCodec(main41, viewer)?.payloadType).toBe(101);
    expect(chooseViewerCodec(obs, viewer)?.payloadType).toBe(102);
  });

  it("refuses a viewer whose H265 is another profile, a lower level or a lower tier, or that has no H265", () => {
    expect(chooseViewerCodec(main10, media("video", [h265(49, "profile-id=1;level-id=180")]))).toBeUndefined();
    expect(chooseViewerCodec(main41, media("video", [h265(49, "profile-id=1;level-id=93")]))).toBeUndefined();
    // A viewer without level-id decodes up to 3.1 (93), RFC 7798's default: enough for OBS's, not for 4.1.
    expect(chooseViewerCodec(obs, media("video", [h265(49, "profile-id=1")]))?.payloadType).toBe(49);
    expect(chooseViewerCodec(main41, media("video", [h265(49, "")]))).toBeUndefined();
    const highTier = publisherCodec(media("video", [h265(98, "profile-id=1;tier-flag=1;level-id=120")]));
    expect(chooseViewerCodec(highTier, media("video", [h265(49, "profile-id=1;tier-flag=0;level-id=180")]))).toBeUndefined();
    expect(chooseViewerCodec(highTier, media("video", [h265(49, "profile-id=1;tier-flag=1;level-id=120")]))?.payloadType).toBe(49);
    expect(chooseViewerCodec(obs, CHROMIUM_H264_VIEWER)).toBeUndefined();
  });

  it("names the stream's profile, tier and level, and what the viewer offers, for the 400", () => {
    expect(describeCodec(obs)).toBe("video/H265 (profile-id=1, tier-flag=0, level-id=93)");
    expect(describeCodec(main10)).toBe("video/H265 (profile-id=2, tier-flag=0, level-id=120)");
    expect(offeredCodecNames(CHROMIUM_H264_VIEWER)).toBe("VP8, H264");
    expect(offeredCodecNames(media("video", []))).toBe("nothing");
  });
});

describe("codecName / describeCodec", () => {
  it("names codecs in lower case and describes H264 with its profile", () => {
    expect(codecName("video/H264")).toBe("h264");
    expect(codecName("nonsense")).toBe("");
    const obs = publisherCodec(parseOffer(loadSdp("obs-h264-high")).media[1] as OfferedMedia);
    expect(describeCodec(obs)).toBe("video/H264 (profile-level-id=640c1f, packetization-mode=1)");
    expect(describeCodec(publisherCodec(media("video", [codec(96, "VP8")])))).toBe("video/VP8");
  });
});

describe("Opus stereo", () => {
  it("a stereo publisher's stereo=1;sprop-stereo=1 reaches the viewer's answer; mono stays as the viewer offered", () => {
    const stereoSource = publisherCodec(media("audio", [codec(111, "opus", "minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1")]));
    const viewer = media("audio", [codec(111, "opus", "minptime=10;useinbandfec=1")]);
    expect(chooseViewerCodec(stereoSource, viewer)?.fmtp).toBe("minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1");
    const monoSource = publisherCodec(media("audio", [codec(111, "opus", "minptime=10;useinbandfec=1")]));
    expect(chooseViewerCodec(monoSource, viewer)?.fmtp).toBe("minptime=10;useinbandfec=1");
  });
});
