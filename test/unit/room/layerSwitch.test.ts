// Regression (issue 15): two layer switches before the first keyframe left a viewer on two layers at once, and it
// received both layers' packets interleaved. The room here is real (registry, publisher session with a simulcast
// offer, a real werift viewer connected over loopback); only the publisher's RTP is fed straight into its layers.
import "../../../src/polyfills.ts";
import pino from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { RTCPeerConnection, RtpHeader, RtpPacket, useOPUS } from "werift";
import { loadConfig } from "../../../src/config.ts";
import { Metrics } from "../../../src/metrics/metrics.ts";
import { RoomRegistry } from "../../../src/room/registry.ts";
import { parseOffer } from "../../../src/rtc/sdp.ts";
import { loadSdp } from "../../fixtures/fixtures.ts";
import { videoCodec } from "../../e2e/helpers/weriftPeers.ts";

const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

/** A VP8 packet of `layer` whose payload says which layer and which packet it is. */
function vp8Packet(layer: number, seq: number, keyframe: boolean): RtpPacket {
  const payload = Buffer.alloc(40);
  payload[0] = 0x10; // S=1, PID=0
  payload[1] = keyframe ? 0x00 : 0x01; // P=0: key frame
  payload[2] = layer;
  payload.writeUInt16BE(seq, 3);
  return new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp: seq * 3000, payloadType: 96, ssrc: 1000 + layer, marker: true }), payload);
}

async function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") return;
  await new Promise<void>((res) => pc.iceGatheringStateChange.subscribe((s) => s === "complete" && res()));
}

async function roomWithViewer() {
  const config = loadConfig({ CONNECT_TIMEOUT: "60" });
  const registry = new RoomRegistry({ config, metrics: new Metrics(), log: pino({ level: "silent" }) });
  open.push({ close: () => registry.close("test done") });
  const pubSdp = loadSdp("chromium-publish");
  const { session: publisher } = await registry.publish("layers", parseOffer(pubSdp), pubSdp);
  const video = publisher.tracks.find((t) => t.kind === "video");
  if (!video) throw new Error("no video track");
  expect(video.layers.map((l) => l.name)).toEqual(["q", "h", "f"]);

  const pc = new RTCPeerConnection({ codecs: { video: [videoCodec("VP8")], audio: [useOPUS()] }, iceAdditionalHostAddresses: ["127.0.0.1"], bundlePolicy: "max-bundle" });
  open.push(pc);
  pc.addTransceiver("video", { direction: "recvonly" });
  /** The layer and source sequence number of each packet the viewer received, in arrival order. */
  const received: { layer: number; seq: number }[] = [];
  pc.onTrack.subscribe((track) => track.onReceiveRtp.subscribe((rtp) => received.push({ layer: rtp.payload[2] as number, seq: rtp.payload.readUInt16BE(3) })));
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const offerSdp = pc.localDescription?.sdp ?? "";
  const { session: viewer, answer } = await registry.play("layers", parseOffer(offerSdp), offerSdp, { layer: "q" });
  await pc.setRemoteDescription({ type: "answer", sdp: answer });
  await vi.waitFor(() => expect(viewer.state).toBe("connected"), { timeout: 10_000, interval: 20 });
  return { registry, video, viewer, received };
}

describe("a viewer switching layers", () => {
  it("two switches before any keyframe leave it on the last one asked for, and only there", async () => {
    const { registry, video, viewer, received } = await roomWithViewer();
    const [q, h, f] = video.layers as [NonNullable<(typeof video.layers)[0]>, NonNullable<(typeof video.layers)[0]>, NonNullable<(typeof video.layers)[0]>];
    let seq = 1;
    q.forward(vp8Packet(0, seq++, true));
    await vi.waitFor(() => expect(received.length).toBeGreaterThan(0), { timeout: 5000, interval: 10 });

    viewer.switchLayer("h");
    viewer.switchLayer("f");
    // h's keyframe comes first: the viewer no longer wants h, so it must stay on q.
    h.forward(vp8Packet(1, seq++, true));
    q.forward(vp8Packet(0, seq++, false));
    f.forward(vp8Packet(2, seq++, true));
    expect(viewer.currentLayer).toBe("f");
    const from = seq;
    for (let i = 0; i < 20; i++) {
      q.forward(vp8Packet(0, seq++, false));
      h.forward(vp8Packet(1, seq++, false));
      f.forward(vp8Packet(2, seq++, false));
    }
    const after = () => received.filter((r) => r.seq >= from).map((r) => r.layer);
    await vi.waitFor(() => expect(after().length).toBeGreaterThanOrEqual(20), { timeout: 5000, interval: 10 });
    await new Promise((r) => setTimeout(r, 100));
    expect(new Set(after())).toEqual(new Set([2]));
    const details = registry.get("layers")?.details();
    const layers = details?.tracks.find((t) => t.kind === "video")?.layers.map((l) => [l.name, l.viewers]);
    expect(Object.fromEntries(layers ?? [])).toEqual({ q: 0, h: 0, f: 1 });
  }, 30_000);

  it("switching back to the current layer before the keyframe cancels the switch", async () => {
    const { video, viewer, received } = await roomWithViewer();
    const [q, h] = video.layers as [NonNullable<(typeof video.layers)[0]>, NonNullable<(typeof video.layers)[0]>];
    let seq = 1;
    q.forward(vp8Packet(0, seq++, true));
    await vi.waitFor(() => expect(received.length).toBeGreaterThan(0), { timeout: 5000, interval: 10 });
    viewer.switchLayer("h");
    viewer.switchLayer("q");
    h.forward(vp8Packet(1, seq++, true));
    const from = seq;
    for (let i = 0; i < 20; i++) {
      q.forward(vp8Packet(0, seq++, false));
      h.forward(vp8Packet(1, seq++, false));
    }
    const after = () => received.filter((r) => r.seq >= from).map((r) => r.layer);
    await vi.waitFor(() => expect(after().length).toBeGreaterThanOrEqual(20), { timeout: 5000, interval: 10 });
    await new Promise((r) => setTimeout(r, 100));
    expect(new Set(after())).toEqual(new Set([0]));
    expect(viewer.currentLayer).toBe("q");
  }, 30_000);
});
