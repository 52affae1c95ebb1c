// GStreamer webrtcbin's offers (captured from GStreamer 1.22) through the HTTP app and werift, no client behind
// them: what the answer and the trickle PATCHes get. The e2e test (test/e2e/gstreamer.test.ts) plays them.
import "../../src/polyfills.ts";
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Authorizer } from "../../src/auth/authorizer.ts";
import { loadConfig } from "../../src/config.ts";
import { createApp } from "../../src/http/app.ts";
import { Metrics } from "../../src/metrics/metrics.ts";
import { EventsHub } from "../../src/room/eventsHub.ts";
import { RoomRegistry } from "../../src/room/registry.ts";
import { SenderReportScheduler } from "../../src/rtc/senderReports.ts";
import { UdpMux, type DatagramSocket } from "../../src/rtc/udpMux.ts";
import { loadSdp } from "../fixtures/fixtures.ts";

/** The server's one media port, as main.ts sets it up; nothing is sent anywhere (no client answers here). */
class SilentSocket implements DatagramSocket {
  readonly port = 40000;
  send(): boolean {
    return true;
  }
  sendMany(packets: readonly (Uint8Array | number | string)[]): number {
    return packets.length / 3;
  }
  close(): void {}
}

// Every ICE agent of a peer on the same port, as in production: the candidates of a non-bundled answer coincide.
let mux: UdpMux;
beforeAll(() => {
  mux = new UdpMux(new SilentSocket());
});
afterAll(() => mux.close());

const registries: RoomRegistry[] = [];
afterEach(() => {
  for (const r of registries.splice(0)) r.close("test done");
});

function server() {
  // ANNOUNCED_IPS as in a container: the answer's candidates are rewritten, per section.
  const config = loadConfig({ RATE_LIMIT_RPS: "0", ANNOUNCED_IPS: "203.0.113.7" });
  const log = pino({ level: "silent" });
  const metrics = new Metrics();
  const registry = new RoomRegistry({ config, metrics, log, media: { mux, senderReports: new SenderReportScheduler() } });
  registries.push(registry);
  return createApp({ config, registry, events: new EventsHub(registry), authorizer: new Authorizer(config), metrics, log, version: "0.0.0-test" });
}

const FRAG = "application/trickle-ice-sdpfrag";

function sections(sdp: string): { kind: string; port: number; mid: string; candidates: string[]; ufrag: string }[] {
  return sdp
    .split(/\r\n(?=m=)/)
    .slice(1)
    .map((s) => ({
      kind: /^m=(\S+)/.exec(s)?.[1] ?? "",
      port: Number(/^m=\S+ (\d+)/.exec(s)?.[1]),
      mid: /a=mid:(\S+)/.exec(s)?.[1] ?? "",
      candidates: s.split("\r\n").filter((l) => l.startsWith("a=candidate:")),
      ufrag: /a=ice-ufrag:(\S+)/.exec(s)?.[1] ?? "",
    }));
}

async function publish(app: ReturnType<typeof server>, room: string, sdp: string) {
  const res = await app.request(`/api/whip/publish/${room}`, { method: "POST", headers: { "Content-Type": "application/sdp" }, body: sdp });
  const answer = await res.text();
  expect(res.status, answer).toBe(201);
  return { answer, location: res.headers.get("Location") as string, etag: res.headers.get("ETag") as string };
}

describe("GStreamer offers", () => {
  it("bundle policy none: both sections answered, each with its own ICE credentials and the server's candidate", async () => {
    const app = server();
    const offer = loadSdp("gstreamer-h264-opus-none");
    const { answer } = await publish(app, "gst-none", offer);
    const s = sections(answer);
    expect(s.map((x) => [x.kind, x.mid])).toEqual([["video", "video0"], ["audio", "audio1"]]);
    for (const x of s) {
      expect(x.port, x.kind).not.toBe(0);
      // Without this each section after the first lost its copy of the candidate: GStreamer's audio never connected.
      expect(x.candidates, x.kind).toHaveLength(1);
      expect(x.candidates[0]).toMatch(/ 203\.0\.113\.7 40000 typ host/);
    }
    expect(s[0]?.ufrag).not.toBe(s[1]?.ufrag);
    const room = (await (await app.request("/api/rooms/gst-none")).json()) as { tracks: { kind: string; codec: string }[] };
    expect(room.tracks.map((t) => t.codec)).toEqual(["video/H264", "audio/opus"]);
  });

  it("bundle policy none: a PATCH with the second section's ufrag is a trickle (204); a ufrag the offer never had is a restart (422 without If-Match)", async () => {
    const app = server();
    const offer = loadSdp("gstreamer-h264-opus-none");
    const { location, etag } = await publish(app, "gst-trickle", offer);
    const [video, audio] = sections(offer);
    const pwds = [...offer.matchAll(/a=ice-pwd:(\S+)/g)].map((m) => m[1]);
    const frag = (ufrag: string, p: string, mid: string) =>
      `a=ice-ufrag:${ufrag}\r\na=ice-pwd:${p}\r\nm=audio 9 RTP/AVP 0\r\na=mid:${mid}\r\na=candidate:1 1 UDP 2015363327 192.0.2.2 35457 typ host\r\n`;
    const patch = (body: string, headers: Record<string, string> = {}) =>
      app.request(location, { method: "PATCH", headers: { "Content-Type": FRAG, ...headers }, body });
    // whipsink and simple-whip-client send If-Match with the ETag; both with and without are trickles.
    expect((await patch(frag(video?.ufrag ?? "", pwds[0] ?? "", "video0"), { "If-Match": etag })).status).toBe(204);
    expect((await patch(frag(audio?.ufrag ?? "", pwds[1] ?? "", "audio1"), { "If-Match": etag })).status).toBe(204);
    expect((await patch(frag(audio?.ufrag ?? "", pwds[1] ?? "", "audio1"))).status).toBe(204);
    const restart = await patch(frag("brandnewufrag0000", "brandnewpassword00000000", "audio1"));
    expect(restart.status).toBe(422);
    expect(await restart.json()).toEqual({ error: 'ICE restart needs If-Match: "*"' });
  });

  it("bundle policy max-bundle: the bundle-only audio (port 0) is answered inside the bundle, not rejected", async () => {
    const app = server();
    const { answer } = await publish(app, "gst-max-bundle", loadSdp("gstreamer-h264-opus-max-bundle"));
    expect(answer).toMatch(/a=group:BUNDLE video0 audio1\r\n/);
    const s = sections(answer);
    expect(s.map((x) => [x.kind, x.port !== 0])).toEqual([["video", true], ["audio", true]]);
    expect(answer).toMatch(/a=rtpmap:97 OPUS\/48000\/2/);
    const room = (await (await app.request("/api/rooms/gst-max-bundle")).json()) as { tracks: { kind: string; codec: string }[] };
    expect(room.tracks.map((t) => t.codec)).toEqual(["video/H264", "audio/opus"]);
  });
});
