// A layer's fan-out, GOP replay and keyframe wait, and the track's one map of viewer → layer, with real werift
// packets. The sinks record what reaches them: what is tested is what the layer and the track decide.
import { afterEach, describe, expect, it, vi } from "vitest";
import { RtpHeader, RtpPacket } from "werift";
import { PublishedTrack } from "../../../src/room/publishedTrack.ts";
import { REPLAY_BURST, TrackLayer, type LayerSink, type TrackHooks } from "../../../src/room/trackLayer.ts";
import type { CodecInfo } from "../../../src/rtc/codecs.ts";

const VP8: CodecInfo = { kind: "video", mimeType: "video/VP8", clockRate: 90000, channels: undefined, payloadType: 96, fmtp: "", rtcpFb: [] };

function hooks(): TrackHooks & { packets: number; lost: number; forwarded: number; keyframeRequests: boolean[] } {
  const h = {
    packets: 0,
    lost: 0,
    forwarded: 0,
    keyframeRequests: [] as boolean[],
    onPacket: () => void h.packets++,
    onLost: (n: number) => void (h.lost += n),
    onForwarded: (n: number) => void (h.forwarded += n),
    onKeyframeRequest: (sent: boolean) => void h.keyframeRequests.push(sent),
    flush: () => undefined,
  };
  return h;
}

/** A VP8 packet whose payload names its layer and sequence number. */
function vp8(seq: number, keyframe = false, layer = 0): RtpPacket {
  const payload = Buffer.from([0x10, keyframe ? 0x00 : 0x01, layer, seq >> 8, seq & 0xff]);
  return new RtpPacket(new RtpHeader({ sequenceNumber: seq & 0xffff, timestamp: seq * 3000, payloadType: 96, ssrc: 500 + layer }), payload);
}

class RecordingSink implements LayerSink {
  readonly packets: { layer: number; seq: number }[] = [];
  readonly switches: { step: number; seq: number }[] = [];
  write(rtp: RtpPacket): void {
    this.packets.push({ layer: rtp.payload[2] as number, seq: rtp.header.sequenceNumber });
  }
  continueAt(step: number, header: RtpPacket["header"]): void {
    this.switches.push({ step, seq: header.sequenceNumber });
  }
  get seqs(): number[] {
    return this.packets.map((p) => p.seq);
  }
}

afterEach(() => {
  vi.useRealTimers();
});

describe("TrackLayer", () => {
  it("counts packets, bytes and gaps in sequence numbers (reordering and restarts are not loss)", () => {
    const h = hooks();
    const layer = new TrackLayer(undefined, "vp8", h);
    for (const seq of [1, 2, 5, 4, 6, 60000]) layer.forward(vp8(seq));
    // 3 and 4 missing after 2 (4 came late, still counted once as lost), 60000 is a jump of over 1000: a restart.
    // Each packet has a timestamp of its own, but 4's is earlier than 5's: a late packet, not a new frame.
    expect(layer.counters).toEqual({ packets: 6, bytes: 6 * (5 + 12), lost: 2, frames: 5 });
    expect(h.lost).toBe(2);
    expect(h.packets).toBe(6);
    expect(layer.ssrc).toBe(500);
  });

  it("counts frames as timestamps that move forward: one per frame, whatever its packets, across the 32-bit wrap", () => {
    const layer = new TrackLayer(undefined, "vp8", hooks());
    const packet = (seq: number, timestamp: number) => new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp, payloadType: 96, ssrc: 1 }), Buffer.from([0x10, 1, 0, 0, 0]));
    const start = 0xffffffff - 3000;
    // A frame of three packets and one of two, a late packet of the first frame, then two frames past the wrap.
    const stamps = [start, start, start, start + 3000, start + 3000, start, start + 3000, 2999, 2999, 5999];
    stamps.forEach((ts, i) => layer.forward(packet(i + 1, ts >>> 0)));
    expect(layer.counters.frames).toBe(4);
    const track = new PublishedTrack("video", 1, "1", VP8, hooks(), ["h", "l"]);
    track.layers[0]?.forward(packet(1, 0));
    track.layers[0]?.forward(packet(2, 3000));
    track.layers[1]?.forward(packet(1, 0));
    // Simulcast layers carry the same frames: the track has its fullest layer's count, not their sum.
    expect(track.counters.frames).toBe(2);
  });

  it("fans every packet out to its sinks and taps, and keeps it for NACKs under its sequence number", () => {
    const h = hooks();
    const layer = new TrackLayer(undefined, "vp8", h);
    const a = new RecordingSink();
    const b = new RecordingSink();
    const tapped: number[] = [];
    layer.addSink(a);
    layer.addSink(b);
    const untap = layer.addTap((rtp) => tapped.push(rtp.header.sequenceNumber));
    layer.forward(vp8(10));
    untap();
    layer.removeSink(b);
    layer.forward(vp8(11));
    expect(a.seqs).toEqual([10, 11]);
    expect(b.seqs).toEqual([10]);
    expect(tapped).toEqual([10]);
    expect(h.forwarded).toBe(3);
    expect(layer.packetAt(10)?.header.sequenceNumber).toBe(10);
    // The history is a ring: 512 packets later, slot 10 holds another packet, and 10 is gone.
    for (let seq = 12; seq <= 10 + 512; seq++) layer.forward(vp8(seq));
    expect(layer.packetAt(10)).toBeUndefined();
    expect(layer.packetAt(11)?.header.sequenceNumber).toBe(11);
  });

  it("strips the publisher's header extensions before anything else sees the packet", () => {
    const layer = new TrackLayer(undefined, "vp8", hooks());
    const sink = new RecordingSink();
    const seen: number[] = [];
    layer.addSink(sink);
    layer.addTap((rtp) => seen.push(rtp.header.extensions.length));
    const rtp = vp8(1);
    rtp.header.extensions = [{ id: 3, payload: Buffer.from([1, 2]) }];
    layer.forward(rtp);
    expect(seen).toEqual([0]);
  });

  it("replays the cached GOP to a joining sink in bursts of REPLAY_BURST, a timer turn apart, then goes live", () => {
    vi.useFakeTimers();
    const layer = new TrackLayer(undefined, "vp8", hooks());
    const gop = REPLAY_BURST * 2 + 10;
    layer.forward(vp8(100, true));
    for (let i = 1; i < gop; i++) layer.forward(vp8(100 + i));
    const sink = new RecordingSink();
    layer.addSink(sink);
    expect(sink.packets).toHaveLength(REPLAY_BURST);
    expect(layer.sinkCount).toBe(1);
    vi.advanceTimersByTime(2);
    expect(sink.packets).toHaveLength(REPLAY_BURST * 2);
    // A packet arriving mid-replay is appended to the GOP and reaches the sink through the replay, once.
    layer.forward(vp8(100 + gop));
    expect(sink.packets).toHaveLength(REPLAY_BURST * 2);
    vi.advanceTimersByTime(2);
    expect(sink.seqs).toEqual(Array.from({ length: gop + 1 }, (_, i) => 100 + i));
    layer.forward(vp8(101 + gop));
    expect(sink.seqs.at(-1)).toBe(101 + gop);
    expect(sink.packets).toHaveLength(gop + 2);
  });

  it("a keyframe during the replay: the rest of the old GOP first, then the new one from its start, none missed", () => {
    vi.useFakeTimers();
    const layer = new TrackLayer(undefined, "vp8", hooks());
    layer.forward(vp8(1, true));
    for (let seq = 2; seq <= REPLAY_BURST + 20; seq++) layer.forward(vp8(seq));
    const sink = new RecordingSink();
    layer.addSink(sink);
    const next = REPLAY_BURST + 21;
    layer.forward(vp8(next, true));
    layer.forward(vp8(next + 1));
    vi.advanceTimersByTime(10);
    expect(sink.seqs).toEqual(Array.from({ length: next + 1 }, (_, i) => i + 1));
  });

  it("a sink removed mid-replay gets nothing more", () => {
    vi.useFakeTimers();
    const layer = new TrackLayer(undefined, "vp8", hooks());
    layer.forward(vp8(1, true));
    for (let seq = 2; seq <= REPLAY_BURST * 3; seq++) layer.forward(vp8(seq));
    const sink = new RecordingSink();
    layer.addSink(sink);
    layer.removeSink(sink);
    vi.advanceTimersByTime(20);
    layer.forward(vp8(REPLAY_BURST * 3 + 1));
    expect(sink.packets).toHaveLength(REPLAY_BURST);
    expect(layer.sinkCount).toBe(0);
  });

  it("hears its next keyframe once, before that packet is fanned out, and asks for one each tick until then", () => {
    const h = hooks();
    let asked = 0;
    const layer = new TrackLayer("h", "vp8", h, { requestKeyframe: () => (asked++, true) });
    const heard: number[] = [];
    const sink = new RecordingSink();
    layer.onNextKeyframe((l, header) => {
      expect(l).toBe(layer);
      heard.push(header.sequenceNumber);
      l.addSinkNow(sink);
    });
    expect(asked).toBe(1);
    layer.forward(vp8(1));
    layer.tick(1000);
    expect(asked).toBe(2);
    layer.forward(vp8(2, true));
    layer.forward(vp8(3, true));
    layer.tick(1000);
    expect(heard).toEqual([2]);
    expect(sink.seqs).toEqual([2, 3]);
    expect(asked).toBe(2);
  });

  it("throttles keyframe requests to the publisher to one per PLI_THROTTLE_MS, and asks none for audio", () => {
    const h = hooks();
    const layer = new TrackLayer(undefined, "vp8", h);
    const plis: number[] = [];
    const receiver = { sendRtcpPLI: (ssrc: number) => (plis.push(ssrc), Promise.resolve()) };
    layer.bind(
      { ssrc: 77, onReceiveRtp: { subscribe: () => ({ unSubscribe: () => undefined }) }, onReceiveRtcp: { subscribe: () => ({ unSubscribe: () => undefined }) } } as never,
      receiver as never,
    );
    expect(layer.requestKeyframe()).toBe(true);
    expect(layer.requestKeyframe()).toBe(false);
    expect(plis).toEqual([77]);
    expect(h.keyframeRequests).toEqual([true, false]);
    expect(new TrackLayer(undefined, undefined, h).requestKeyframe()).toBe(false);
  });

  it("close empties everything and is idempotent", () => {
    const layer = new TrackLayer(undefined, "vp8", hooks());
    const sink = new RecordingSink();
    layer.addSink(sink);
    layer.forward(vp8(1, true));
    layer.close();
    layer.close();
    layer.forward(vp8(2));
    layer.addSink(new RecordingSink());
    expect(sink.seqs).toEqual([1]);
    expect(layer.sinkCount).toBe(0);
    expect(layer.packetAt(1)).toBeUndefined();
  });
});

describe("PublishedTrack: one map of viewer → layer", () => {
  function simulcast() {
    const track = new PublishedTrack("video", 0, "1", VP8, hooks(), ["q", "h", "f"]);
    const [q, h, f] = track.layers as [TrackLayer, TrackLayer, TrackLayer];
    return { track, q, h, f };
  }

  it("a viewer starts on the layer it is given, and moves at the target's keyframe with its stream rebased there", () => {
    const { track, q, h } = simulcast();
    const v = new RecordingSink();
    track.addViewer(v, q);
    q.forward(vp8(1, true, 0));
    track.switchViewer(v, h);
    expect(track.layerOf(v)).toBe(q);
    expect(track.targetOf(v)).toBe(h);
    h.forward(vp8(50, false, 1)); // not a keyframe: still on q
    q.forward(vp8(2, false, 0));
    h.forward(vp8(51, true, 1));
    q.forward(vp8(3, false, 0));
    h.forward(vp8(52, false, 1));
    expect(v.packets).toEqual([
      { layer: 0, seq: 1 },
      { layer: 0, seq: 2 },
      { layer: 1, seq: 51 },
      { layer: 1, seq: 52 },
    ]);
    expect(v.switches).toEqual([{ step: 3000, seq: 51 }]);
    expect(track.layerOf(v)).toBe(h);
    expect([track.viewersOn(q), track.viewersOn(h), track.viewerCount]).toEqual([0, 1, 1]);
  });

  it("two switches before any keyframe: the second replaces the first, in whichever order the keyframes come", () => {
    const { track, q, h, f } = simulcast();
    const v = new RecordingSink();
    track.addViewer(v, q);
    const switched: string[] = [];
    track.switchViewer(v, h, (l) => switched.push(l.name));
    track.switchViewer(v, f, (l) => switched.push(l.name));
    h.forward(vp8(1, true, 1));
    f.forward(vp8(2, true, 2));
    h.forward(vp8(3, true, 1));
    q.forward(vp8(4, false, 0));
    f.forward(vp8(5, false, 2));
    expect(v.packets.map((p) => p.layer)).toEqual([2, 2]);
    expect(switched).toEqual(["f"]);
    expect([q.sinkCount, h.sinkCount, f.sinkCount]).toEqual([0, 0, 1]);
  });

  it("a switch back to the current layer cancels the pending one; the abandoned layer stops waiting for a keyframe", () => {
    const { track, q, h } = simulcast();
    const v = new RecordingSink();
    track.addViewer(v, q);
    track.switchViewer(v, h);
    track.switchViewer(v, q);
    expect(track.targetOf(v)).toBe(q);
    h.forward(vp8(1, true, 1));
    q.forward(vp8(2, false, 0));
    expect(v.packets.map((p) => p.layer)).toEqual([0]);
    expect(v.switches).toEqual([]);
  });

  it("two viewers waiting for the same keyframe both move at it; a removed viewer does not", () => {
    const { track, q, h } = simulcast();
    const a = new RecordingSink();
    const b = new RecordingSink();
    const c = new RecordingSink();
    for (const v of [a, b, c]) track.addViewer(v, q);
    for (const v of [a, b, c]) track.switchViewer(v, h);
    track.removeViewer(c);
    h.forward(vp8(9, true, 1));
    expect(a.seqs).toEqual([9]);
    expect(b.seqs).toEqual([9]);
    expect(c.seqs).toEqual([]);
    expect([track.viewersOn(h), track.viewerCount, h.sinkCount, q.sinkCount]).toEqual([2, 2, 2, 0]);
  });

  it("adding a viewer again keeps its layer and its pending switch (a transport that came back)", () => {
    const { track, q, h, f } = simulcast();
    const v = new RecordingSink();
    track.addViewer(v, q);
    track.switchViewer(v, h);
    track.addViewer(v, f);
    expect(track.layerOf(v)).toBe(q);
    expect(track.targetOf(v)).toBe(h);
    expect([q.sinkCount, f.sinkCount]).toEqual([1, 0]);
  });

  it("close forgets every viewer", () => {
    const { track, q } = simulcast();
    const v = new RecordingSink();
    track.addViewer(v, q);
    track.close();
    track.close();
    expect(track.viewerCount).toBe(0);
    expect(track.layerOf(v)).toBeUndefined();
  });
});
