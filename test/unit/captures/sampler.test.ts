// The sampler's arithmetic on made-up counter reads: rates over the real interval, frames, loss, viewer spreads,
// layer switches and transcoder changes as timeline events, and counters that restart.
import { describe, expect, it } from "vitest";
import { CaptureSampler, type RoomSnapshot } from "../../../src/captures/sampler.ts";

const T0 = 1_700_000_000_000;

function snap(at: number, over: Partial<RoomSnapshot> = {}, video = { bytes: 0, packets: 0, frames: 0, lost: 0 }): RoomSnapshot {
  return {
    at,
    publisherState: "connected",
    tracks: [
      {
        index: 0,
        kind: "audio",
        codec: "audio/opus",
        packets: video.packets,
        lost: 0,
        layers: [{ name: "source", rendition: false, bytes: video.bytes / 10, packets: video.packets, frames: video.packets, viewers: 1 }],
      },
      {
        index: 1,
        kind: "video",
        codec: "video/VP8",
        packets: video.packets,
        lost: video.lost,
        layers: [
          { name: "h", rendition: false, bytes: video.bytes, packets: video.packets, frames: video.frames, viewers: 1 },
          { name: "l", rendition: false, bytes: video.bytes / 4, packets: video.packets / 4, frames: video.frames, viewers: 0 },
          { name: "360p", rendition: true, bytes: video.bytes / 2, packets: video.packets / 2, frames: video.frames, viewers: 0 },
        ],
      },
    ],
    viewers: [{ id: "v1", layer: "h", rttMs: 20, fractionLost: 0.01 }],
    transcoder: null,
    ...over,
  };
}

describe("CaptureSampler", () => {
  it("measures bitrate, frame rate and loss over the time that really passed between reads", () => {
    const s = new CaptureSampler(T0);
    s.baseline(snap(T0));
    // 2 s, not 1: a late tick must not double the rates.
    const { sample, events } = s.sample(snap(T0 + 2000, {}, { bytes: 500_000, packets: 980, frames: 60, lost: 20 }));
    expect(sample.t).toBe(2000);
    const video = sample.tracks[1];
    expect(video?.layers.map((l) => [l.name, l.bitrate, l.frameRate, l.viewers])).toEqual([
      ["h", 2_000_000, 30, 1],
      ["l", 500_000, 30, 0],
      ["360p", 1_000_000, 30, 0],
    ]);
    // The track is what the publisher sends: its own layers, not the transcoder's renditions.
    expect(video?.bitrate).toBe(2_500_000);
    expect(video?.frameRate).toBe(30);
    expect(video?.loss).toBe(0.02);
    expect(video?.packetsLost).toBe(20);
    // Audio has no frame rate worth graphing.
    expect(sample.tracks[0]?.frameRate).toBe(0);
    expect(sample.viewers).toBe(1);
    expect(events).toEqual([]);
  });

  it("spreads the viewers' RTT and loss, leaving out those that have not reported", () => {
    const s = new CaptureSampler(T0);
    s.baseline(snap(T0));
    const viewers = [
      { id: "a", layer: "h", rttMs: 10, fractionLost: 0 },
      { id: "b", layer: "h", rttMs: 30, fractionLost: 0.1 },
      { id: "c", layer: "l", rttMs: null, fractionLost: null },
    ];
    const { sample } = s.sample(snap(T0 + 1000, { viewers }));
    expect(sample.rttMs).toEqual({ mean: 20, max: 30 });
    expect(sample.viewerLoss).toEqual({ mean: 0.05, max: 0.1 });
    expect(sample.viewers).toBe(3);
    expect(s.sample(snap(T0 + 2000, { viewers: [] })).sample.rttMs).toBeNull();
  });

  it("puts layer switches and transcoder changes on the timeline, but not a viewer's first layer", () => {
    const s = new CaptureSampler(T0);
    s.baseline(snap(T0, { viewers: [{ id: "v1", layer: null, rttMs: null, fractionLost: null }] }));
    const placed = s.sample(snap(T0 + 1000, { viewers: [{ id: "v1", layer: "h", rttMs: null, fractionLost: null }] }));
    expect(placed.events).toEqual([]);
    const switched = s.sample(
      snap(T0 + 2000, {
        viewers: [
          { id: "v1", layer: "l", rttMs: null, fractionLost: null },
          { id: "v2", layer: "h", rttMs: null, fractionLost: null },
        ],
        transcoder: "starting",
      }),
    );
    expect(switched.events).toEqual([
      { t: 2000, type: "layer.switched", session: "v1", from: "h", to: "l" },
      { t: 2000, type: "transcoder.state", from: null, to: "starting" },
    ]);
    expect(s.sample(snap(T0 + 3000, { viewers: [], transcoder: "starting" })).events).toEqual([]);
  });

  it("starts a layer from zero when it is new or its counters went back (a new publisher)", () => {
    const s = new CaptureSampler(T0);
    s.baseline(snap(T0, {}, { bytes: 1_000_000, packets: 1000, frames: 300, lost: 5 }));
    const { sample } = s.sample(snap(T0 + 1000, {}, { bytes: 1000, packets: 10, frames: 2, lost: 0 }));
    expect(sample.tracks[1]?.bitrate).toBe(0);
    expect(sample.tracks[1]?.loss).toBe(0);
    expect(sample.tracks[1]?.layers[0]?.frameRate).toBe(0);
    const none = s.sample(snap(T0 + 2000, { tracks: [], publisherState: null }));
    expect(none.sample.tracks).toEqual([]);
    expect(none.sample.publisherState).toBeNull();
  });
});
