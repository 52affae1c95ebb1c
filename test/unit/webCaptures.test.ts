// The captures page's model (web/pages/capturesModel.ts) without a browser: which charts and series a capture
// becomes, gaps where a figure did not exist, the timeline's span while running and after, markers, and polling.
import { describe, expect, it } from "vitest";
import type { CaptureFile, CaptureSample } from "../../src/api.ts";
import { captureView, describeCapture, duration, markerLabel, shouldPoll } from "../../web/pages/capturesModel.ts";

function sample(t: number, over: Partial<CaptureSample> = {}, layers: [string, number, number][] = [["source", 1_000_000, 1]]): CaptureSample {
  return {
    t,
    viewers: layers.reduce((n, l) => n + l[2], 0),
    publisherState: "connected",
    tracks: [
      { index: 0, kind: "audio", codec: "audio/opus", bitrate: 32_000, frameRate: 0, packets: 50, packetsLost: 0, loss: 0, layers: [{ name: "source", bitrate: 32_000, frameRate: 0, viewers: 1, rendition: false }] },
      {
        index: 1,
        kind: "video",
        codec: "video/VP8",
        bitrate: layers.reduce((n, l) => n + l[1], 0),
        frameRate: 30,
        packets: 100,
        packetsLost: 1,
        loss: 0.01,
        layers: layers.map(([name, bps, viewers]) => ({ name, bitrate: bps, frameRate: 30, viewers, rendition: false })),
      },
    ],
    rttMs: { mean: 12, max: 20 },
    viewerLoss: null,
    transcoder: null,
    ...over,
  };
}

function file(samples: CaptureSample[], over: Partial<CaptureFile> = {}): CaptureFile {
  return {
    id: "20261208T024215Z-1a2b3c4d",
    room: "demo",
    startedAt: "2026-12-08T02:42:15.000Z",
    stoppedAt: "2026-12-08T02:42:18.000Z",
    state: "stopped",
    stopReason: "stopped",
    maxSeconds: 600,
    sampleCount: samples.length,
    intervalMs: 1000,
    version: "test",
    samples,
    events: [],
    ...over,
  };
}

describe("captureView", () => {
  it("draws a plain stream per track, with every chart the page shows", () => {
    const v = captureView(file([sample(1000), sample(2000), sample(3000)]));
    expect(v.times).toEqual([1, 2, 3]);
    expect(v.span).toBe(3);
    expect(v.charts.map((c) => c.id)).toEqual(["bitrate", "fps", "loss", "rtt", "viewers"]);
    const bitrate = v.charts[0];
    expect(bitrate?.series.map((s) => [s.label, s.values])).toEqual([
      ["audio opus", [32_000, 32_000, 32_000]],
      ["video VP8", [1_000_000, 1_000_000, 1_000_000]],
    ]);
    expect(v.charts[1]?.series.map((s) => s.label)).toEqual(["video VP8"]);
    expect(v.charts[3]?.series.map((s) => s.values)).toEqual([
      [12, 12, 12],
      [20, 20, 20],
    ]);
    // No viewer reported loss: a gap, not a zero.
    expect(v.charts[2]?.series.find((s) => s.label === "viewers (mean)")?.values).toEqual([null, null, null]);
    expect(v.charts[4]?.series.map((s) => s.label)).toEqual(["all viewers"]);
  });

  it("draws simulcast per layer, viewers per layer, and gaps before a layer existed", () => {
    const v = captureView(
      file([
        sample(1000, {}, [["h", 1_500_000, 1]]),
        sample(2000, {}, [
          ["h", 1_400_000, 1],
          ["l", 200_000, 2],
        ]),
      ]),
    );
    const bitrate = v.charts.find((c) => c.id === "bitrate");
    expect(bitrate?.series.map((s) => [s.label, s.values])).toEqual([
      ["layer h", [1_500_000, 1_400_000]],
      ["layer l", [null, 200_000]],
      ["audio opus", [32_000, 32_000]],
    ]);
    expect(v.charts.find((c) => c.id === "viewers")?.series.map((s) => [s.label, s.values])).toEqual([
      ["all viewers", [1, 3]],
      ["on h", [1, 1]],
      ["on l", [null, 2]],
    ]);
  });

  it("keeps a running capture's axis ahead of its last sample, and marks its events", () => {
    const events: CaptureFile["events"] = [
      { t: 1500, type: "viewer.joined", session: "v" },
      { t: 2500, type: "layer.switched", session: "v", from: "h", to: "l" },
      { t: 2600, type: "transcoder.state", from: null, to: "running" },
    ];
    const v = captureView(file([sample(1000), sample(2000)], { state: "running", stoppedAt: null, stopReason: null, maxSeconds: 30, events }));
    expect(v.running).toBe(true);
    expect(v.span).toBe(30);
    expect(v.markers).toEqual([
      { t: 1.5, label: "viewer joined" },
      { t: 2.5, label: "layer switch h→l" },
      { t: 2.6, label: "transcoder running" },
    ]);
    expect(captureView(file([])).span).toBe(1);
  });
});

describe("the captures list and polling", () => {
  it("describes each capture and polls only running ones", () => {
    const base = file([]);
    expect(describeCapture({ ...base, state: "running", stopReason: null, sampleCount: 80, maxSeconds: 600 })).toBe("running · 1 min 20 s of 10 min");
    expect(describeCapture({ ...base, stopReason: "room-closed", sampleCount: 180 })).toBe("stopped (room closed) · 3 min");
    expect(describeCapture({ ...base, state: "interrupted", stopReason: null, sampleCount: 5 })).toBe("interrupted · 5 s");
    expect(shouldPoll({ state: "running" })).toBe(true);
    expect(shouldPoll({ state: "stopped" })).toBe(false);
    expect(duration(59.6)).toBe("1 min");
    expect(markerLabel({ t: 0, type: "publisher.left" })).toBe("publisher left");
  });
});
