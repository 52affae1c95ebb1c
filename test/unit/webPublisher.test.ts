// The publish page's state (web/pages/publishModel.ts) without a browser: start, capture refusals, the token and
// error paths, a kiosk's retries, reconnecting a dropped live publish, stop; and the pure choices (codec order,
// simulcast encodings, settings from the form). The page itself is driven in Chromium by test/e2e/web.test.ts.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../../web/lib/api.ts";
import {
  availableCodecs,
  captureError,
  codecOrder,
  KIOSK_RETRY_SEC,
  PublisherModel,
  readSettings,
  RECONNECT_MS,
  RESOLUTIONS,
  sendEncodings,
  type PublisherPorts,
  type PublisherSnapshot,
  type Settings,
} from "../../web/pages/publishModel.ts";

const SETTINGS: Settings = {
  source: "camera",
  cameraId: "",
  micId: "",
  resolution: RESOLUTIONS[2],
  bitrate: 2_500_000,
  codec: "",
  simulcast: false,
};

const models: PublisherModel[] = [];
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  for (const m of models.splice(0)) m.dispose();
  vi.useRealTimers();
});

function harness(opts: { autostart?: boolean; canCapture?: boolean } = {}) {
  const calls = {
    captured: 0,
    opened: [] as [number, Settings][],
    closed: [] as string[],
    released: 0,
    asked: [] as string[],
    accepted: 0,
  };
  let last: PublisherSnapshot | undefined;
  const answers = { capture: async (_s: Settings) => undefined as void, settings: () => SETTINGS };
  const ports: PublisherPorts = {
    settings: () => answers.settings(),
    capture: (s) => {
      calls.captured++;
      return answers.capture(s);
    },
    open: (n, s) => calls.opened.push([n, s]),
    close: (how) => calls.closed.push(how),
    release: () => calls.released++,
    askToken: (r) => calls.asked.push(r),
    tokenAccepted: () => calls.accepted++,
    render: (s) => (last = s),
  };
  const model = new PublisherModel("studio", ports, { autostart: opts.autostart ?? false, canCapture: opts.canCapture ?? true });
  models.push(model);
  return {
    model,
    calls,
    answers,
    get view(): PublisherSnapshot {
      if (!last) throw new Error("never rendered");
      return last;
    },
  };
}

/** Started and publishing attempt 1. */
async function started(opts: { autostart?: boolean } = {}) {
  const t = harness(opts);
  t.model.init();
  if (!opts.autostart) await t.model.start();
  await vi.advanceTimersByTimeAsync(0);
  expect(t.calls.opened.map(([n]) => n)).toEqual([1]);
  return t;
}

describe("publisher: start and stop", () => {
  it("idle → starting → connecting → live; the form is locked from Start to Stop", async () => {
    const t = harness();
    t.model.init();
    expect(t.view).toMatchObject({ state: "idle", pill: { text: "Off air", tone: "idle" }, canStart: true, busy: false, capturing: false });
    let release!: () => void;
    t.answers.capture = () => new Promise<void>((r) => (release = r));
    const starting = t.model.start();
    expect(t.view).toMatchObject({ state: "starting", pill: { text: "Starting", tone: "connecting" }, canStart: false, busy: true });
    release();
    await starting;
    expect(t.view).toMatchObject({ state: "connecting", capturing: true });
    expect(t.calls.opened).toEqual([[1, SETTINGS]]);
    expect(t.model.negotiated(1)).toBe(true);
    expect(t.calls.accepted).toBe(1);
    t.model.connected(1);
    expect(t.view).toMatchObject({ state: "live", pill: { text: "Live", tone: "live" }, busy: true, notice: undefined });

    // A second Start while on does nothing.
    await t.model.start();
    expect(t.calls.captured).toBe(1);

    t.model.stop();
    expect(t.calls.closed).toEqual(["end"]); // DELETE, then close
    expect(t.calls.released).toBe(1);
    expect(t.view).toMatchObject({ state: "idle", canStart: true, busy: false, capturing: false, notice: undefined });
  });

  it("a refused camera says what to do and leaves the page idle, with nothing to release", async () => {
    const t = harness();
    t.model.init();
    t.answers.capture = async () => {
      throw new DOMException("Permission denied", "NotAllowedError");
    };
    await t.model.start();
    expect(t.view.state).toBe("idle");
    expect(t.view.notice).toEqual({ kind: "error", text: expect.stringMatching(/^The browser was not allowed to use the camera or microphone/) });
    expect(t.calls.opened).toEqual([]);
    expect(t.calls.released).toBe(0);
  });

  it("Stop while the browser asks for the camera: the late capture is released, nothing is published", async () => {
    const t = harness();
    t.model.init();
    let release!: () => void;
    t.answers.capture = () => new Promise<void>((r) => (release = r));
    const starting = t.model.start();
    t.model.stop();
    release();
    await starting;
    expect(t.calls.opened).toEqual([]);
    expect(t.calls.released).toBe(2);
    expect(t.view.state).toBe("idle");
  });

  it("the capture ending (screen share stopped) stops the publish and says why", async () => {
    const t = await started();
    t.model.connected(1);
    t.model.captureEnded();
    expect(t.view.state).toBe("idle");
    expect(t.view.notice).toEqual({ kind: "info", text: "The capture ended (the camera or screen share was stopped)." });
    expect(t.calls.closed).toEqual(["end"]);
    // A track of the released capture ending later changes nothing.
    t.model.captureEnded();
    expect(t.calls.closed).toEqual(["end"]);
  });

  it("on an insecure page it explains why it cannot start, and Start stays off", async () => {
    const t = harness({ canCapture: false, autostart: true });
    t.model.init();
    expect(t.view.canStart).toBe(false);
    expect(t.view.notice?.text).toMatch(/only on secure pages/);
    await t.model.start();
    expect(t.calls.captured).toBe(0);
  });

  it("the page going away sends the DELETE with keepalive", async () => {
    const t = await started();
    t.model.unload();
    expect(t.calls.closed).toEqual(["unload"]);
  });
});

describe("publisher: refusals and retries", () => {
  it("a 401 asks for the token and stops; a person's 409 stops with the sentence", async () => {
    const t = await started();
    t.model.failed(1, new ApiError(401, "unauthorized"));
    expect(t.calls.asked).toEqual([expect.stringMatching(/needs a token to publish to “studio”/)]);
    expect(t.view).toMatchObject({ state: "idle", notice: { kind: "error" } });
    expect(t.calls.closed).toEqual(["drop", "end"]);
    expect(t.calls.released).toBe(1);

    await t.model.start();
    await vi.advanceTimersByTimeAsync(0);
    t.model.failed(2, new ApiError(409, "publisher already exists in this room"));
    expect(t.view.state).toBe("idle");
    expect(t.view.notice?.text).toMatch(/^Someone is already publishing in this room/);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(t.calls.opened).toHaveLength(2);
  });

  it("a kiosk keeps trying a taken room: after Retry-After, else 5 s, with the same settings and the capture kept", async () => {
    const t = await started({ autostart: true });
    t.model.failed(1, new ApiError(409, "publisher already exists in this room"));
    expect(t.view).toMatchObject({ state: "reconnecting", pill: { text: "Reconnecting" }, capturing: true });
    expect(t.view.notice).toEqual({ kind: "warn", text: expect.stringMatching(/Trying again shortly\.$/) });
    expect(t.calls.released).toBe(0);
    await vi.advanceTimersByTimeAsync(KIOSK_RETRY_SEC * 1000 - 1);
    expect(t.calls.opened).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.calls.opened.map(([n]) => n)).toEqual([1, 2]);
    expect(t.view.state).toBe("reconnecting");

    t.model.failed(2, new ApiError(429, "too many requests", 2));
    await vi.advanceTimersByTimeAsync(2000);
    expect(t.calls.opened.map(([n]) => n)).toEqual([1, 2, 3]);
    t.model.failed(3, new ApiError(503, "server is shutting down"));
    await vi.advanceTimersByTimeAsync(KIOSK_RETRY_SEC * 1000);
    expect(t.calls.opened).toHaveLength(4);
    expect(t.calls.opened.every(([, s]) => s === SETTINGS)).toBe(true);

    // A refusal that retrying cannot fix stops even a kiosk.
    t.model.failed(4, new ApiError(400, "invalid SDP"));
    expect(t.view.state).toBe("idle");
    expect(t.view.notice?.text).toBe("The server refused the request: invalid SDP.");
  });

  it("a live publish that drops reconnects after 3 s with the capture kept; Stop in between cancels it", async () => {
    const t = await started();
    t.model.negotiated(1);
    t.model.connected(1);
    t.model.dropped(1);
    expect(t.calls.closed).toEqual(["drop"]); // no DELETE: the connection is gone
    expect(t.view).toMatchObject({ state: "reconnecting", capturing: true, notice: { kind: "warn" } });
    await vi.advanceTimersByTimeAsync(RECONNECT_MS - 1);
    expect(t.calls.opened).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.calls.opened.map(([n]) => n)).toEqual([1, 2]);
    t.model.connected(2);
    expect(t.view).toMatchObject({ state: "live", notice: undefined });

    t.model.dropped(2);
    t.model.stop();
    await vi.advanceTimersByTimeAsync(RECONNECT_MS * 3);
    expect(t.calls.opened).toHaveLength(2);
    expect(t.view.state).toBe("idle");
  });

  it("ignores what an ended attempt reports", async () => {
    const t = await started();
    t.model.stop();
    expect(t.model.negotiated(1)).toBe(false);
    t.model.connected(1);
    t.model.dropped(1);
    t.model.failed(1, new ApiError(500, "boom"));
    expect(t.view).toMatchObject({ state: "idle", notice: undefined });
    expect(t.calls.closed).toEqual(["end"]);
    expect(t.calls.accepted).toBe(0);
  });
});

describe("publisher: the page's choices", () => {
  const caps = [
    { mimeType: "video/VP8" },
    { mimeType: "video/H264", sdpFmtpLine: "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f" },
    { mimeType: "video/H264", sdpFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f" },
    { mimeType: "video/H264", sdpFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f" },
    { mimeType: "video/rtx" },
  ];

  it("codecOrder puts the chosen codec first, H264 packetization-mode 1 Constrained Baseline first of all", () => {
    const order = codecOrder(caps, "H264");
    expect(order?.map((c) => c.sdpFmtpLine ?? c.mimeType)).toEqual([
      "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
      "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f",
      "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f",
      "video/VP8",
      "video/rtx",
    ]);
    expect(codecOrder(caps, "")).toBeUndefined();
    expect(codecOrder(caps, "AV1")).toBeUndefined();
  });

  it("availableCodecs lists what the browser can send, in the page's order", () => {
    expect(availableCodecs(caps)).toEqual(["VP8", "H264"]);
    expect(availableCodecs([])).toEqual([]);
  });

  it("sendEncodings: one at the bitrate, or simulcast's h/m/l at full, half and quarter size", () => {
    expect(sendEncodings({ bitrate: 2_500_000, simulcast: false })).toEqual([{ maxBitrate: 2_500_000 }]);
    expect(sendEncodings({ bitrate: 2_400_000, simulcast: true })).toEqual([
      { rid: "h", maxBitrate: 2_400_000 },
      { rid: "m", maxBitrate: 800_000, scaleResolutionDownBy: 2 },
      { rid: "l", maxBitrate: 300_000, scaleResolutionDownBy: 4 },
    ]);
  });

  it("readSettings falls back to 720p and 2.5 Mb/s for values it does not know", () => {
    const s = readSettings({ source: "screen", cameraId: "c", micId: "none", resolution: "4k", bitrate: "lots", codec: "VP9", simulcast: true });
    expect(s).toEqual({ source: "screen", cameraId: "c", micId: "none", resolution: RESOLUTIONS[2], bitrate: 2_500_000, codec: "VP9", simulcast: true });
    expect(readSettings({ source: "x", cameraId: "", micId: "", resolution: "360p", bitrate: "500000", codec: "", simulcast: false })).toMatchObject({
      source: "camera",
      resolution: { width: 640, height: 360 },
      bitrate: 500_000,
    });
  });

  it("captureError names the device and the way out", () => {
    expect(captureError(new DOMException("", "NotFoundError"), "camera")).toBe('No camera or microphone was found. Connect one, or pick "No sound" for the microphone.');
    expect(captureError(new DOMException("", "NotReadableError"), "screen")).toBe("The screen is busy: another program or tab is using it.");
    expect(captureError(new DOMException("", "OverconstrainedError"), "camera")).toMatch(/cannot do this resolution/);
    expect(captureError(new Error("boom"), "camera")).toBe("The camera or microphone could not be started: boom");
  });
});
