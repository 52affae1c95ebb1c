import { describe, expect, it } from "vitest";
import { acceptBundleOnly } from "../../src/rtc/bundleOnly.ts";
import { activeMedia, parseOffer } from "../../src/rtc/sdp.ts";
import { loadSdp } from "../fixtures/fixtures.ts";

const GST_MAX_BUNDLE = loadSdp("gstreamer-h264-opus-max-bundle");
const mLines = (sdp: string) => sdp.split(/\r?\n/).filter((l) => l.startsWith("m="));

describe("acceptBundleOnly (RFC 8843 bundle-only sections, as GStreamer's max-bundle writes them)", () => {
  it("gives GStreamer's bundle-only audio (port 0) the discard port, so the offer reader sees audio to publish", () => {
    expect(activeMedia(parseOffer(GST_MAX_BUNDLE), "send").map((m) => m.kind)).toEqual(["video"]);
    const out = acceptBundleOnly(GST_MAX_BUNDLE);
    expect(mLines(out)).toEqual(["m=video 9 UDP/TLS/RTP/SAVPF 96", "m=audio 9 UDP/TLS/RTP/SAVPF 97"]);
    expect(activeMedia(parseOffer(out), "send").map((m) => m.kind)).toEqual(["video", "audio"]);
    // Nothing else changes: same lines, same CRLF ends.
    expect(out.split("\r\n").filter((l) => !l.startsWith("m="))).toEqual(GST_MAX_BUNDLE.split("\r\n").filter((l) => !l.startsWith("m=")));
  });

  it("leaves an offer without bundle-only untouched (the same string)", () => {
    const sdp = loadSdp("chromium-publish");
    expect(acceptBundleOnly(sdp)).toBe(sdp);
  });

  it("keeps a port-0 section rejected when it is not bundle-only, or not in a BUNDLE group", () => {
    const rejected = GST_MAX_BUNDLE.replace("a=bundle-only\r\n", "");
    expect(mLines(acceptBundleOnly(rejected))[1]).toBe("m=audio 0 UDP/TLS/RTP/SAVPF 97");
    const ungrouped = GST_MAX_BUNDLE.replace("a=group:BUNDLE video0 audio1", "a=group:BUNDLE video0");
    expect(mLines(acceptBundleOnly(ungrouped))[1]).toBe("m=audio 0 UDP/TLS/RTP/SAVPF 97");
    const noGroup = GST_MAX_BUNDLE.replace("a=group:BUNDLE video0 audio1\r\n", "");
    expect(mLines(acceptBundleOnly(noGroup))[1]).toBe("m=audio 0 UDP/TLS/RTP/SAVPF 97");
  });

  it("keeps every section rejected when no section of the group has a port (nothing to bundle into)", () => {
    const allZero = GST_MAX_BUNDLE.replace("m=video 9 ", "m=video 0 ").replace("a=rtcp-mux-only", "a=bundle-only");
    expect(mLines(acceptBundleOnly(allZero))).toEqual(["m=video 0 UDP/TLS/RTP/SAVPF 96", "m=audio 0 UDP/TLS/RTP/SAVPF 97"]);
  });

  it("keeps LF line ends for an offer written with them", () => {
    const lf = GST_MAX_BUNDLE.replace(/\r\n/g, "\n");
    const out = acceptBundleOnly(lf);
    expect(out).not.toContain("\r");
    expect(mLines(out)[1]).toBe("m=audio 9 UDP/TLS/RTP/SAVPF 97");
  });

  it("does not throw on garbage or truncated offers (the offer reader rejects them after)", () => {
    for (const bad of ["", "a=bundle-only", "m=audio 0\r\na=bundle-only", "a=group:BUNDLE\r\nm=audio 0 x\r\na=bundle-only\r\na=mid:"]) {
      expect(() => acceptBundleOnly(bad)).not.toThrow();
    }
    for (let cut = 0; cut < GST_MAX_BUNDLE.length; cut += 97) expect(() => acceptBundleOnly(GST_MAX_BUNDLE.slice(0, cut))).not.toThrow();
  });
});
