// The player page's state (web/pages/playModel.ts) without a browser: when it connects, how it backs off, how it
// waits for the publisher, the refused (token) and error paths, the disconnected grace, the hidden-tab poll and
// the quality picker. The page itself is driven in Chromium by test/e2e/web.test.ts.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { RoomStats } from "../../src/api.ts";
import { ApiError } from "../../web/lib/api.ts";
import { LayerPicker } from "../../web/pages/layerPicker.ts";
import {
  DISCONNECTED_GRACE_MS,
  FEED_SILENT_MS,
  HIDDEN_POLL_MS,
  layerLink,
  linkOf,
  PAUSED_TEXT,
  parseSessionEvent,
  PlayerModel,
  REJOIN_DELAY_MS,
  SSE_REL,
  type PlayerPorts,
  type PlayerSnapshot,
} from "../../web/pages/playModel.ts";

function stats(over: Partial<RoomStats> = {}): RoomStats {
  return {
    room: "lobby",
    liveSince: "2026-12-06T10:00:00.000Z",
    hasPublisher: true,
    publisherState: "connected",
    viewers: 1,
    bitrate: 2_500_000,
    packets: 0,
    bytes: 0,
    packetsLost: 0,
    packetRate: 0,
    loss: 0,
    tracks: [],
    ...over,
  };
}
const live = () => stats();
const idle = () => stats({ hasPublisher: false, publisherState: null });

/** Ports that record what the model asked, with the answers a test sets. */
function harness() {
  const calls = {
    opened: [] as number[],
    closed: [] as (boolean | "unload")[],
    posted: [] as string[],
    asked: [] as string[],
    accepted: 0,
    polls: 0,
  };
  let last: PlayerSnapshot | undefined;
  const answers = { postLayer: async (_name: string) => undefined as void, roomIsLive: async () => false };
  const ports: PlayerPorts = {
    open: (n) => calls.opened.push(n),
    close: (mode) => calls.closed.push(mode),
    postLayer: (name) => {
      calls.posted.push(name);
      return answers.postLayer(name);
    },
    roomIsLive: () => {
      calls.polls++;
      return answers.roomIsLive();
    },
    askToken: (reason) => calls.asked.push(reason),
    tokenAccepted: () => calls.accepted++,
    render: (s) => (last = s),
  };
  const model = new PlayerModel("lobby", ports);
  models.push(model);
  return {
    model,
    calls,
    answers,
    get view(): PlayerSnapshot {
      if (!last) throw new Error("never rendered");
      return last;
    },
  };
}

const models: PlayerModel[] = [];
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  for (const m of models.splice(0)) m.dispose();
  vi.useRealTimers();
});

/** A model that has connected once (attempt 1) to a live room. */
function connectedOnce() {
  const t = harness();
  t.model.start();
  t.model.roomUpdate(live());
  expect(t.calls.opened).toEqual([1]);
  return t;
}

describe("player: waiting for the publisher", () => {
  it("waits while the feed says the room has no publisher, and connects the moment it goes live", () => {
    const t = harness();
    t.model.start();
    expect(t.view.state).toBe("waiting");
    expect(t.view.text).toMatch(/^Waiting for the publisher of “lobby”/);
    t.model.roomUpdate(idle());
    t.model.roomUpdate(stats({ publisherState: "connecting" }));
    vi.advanceTimersByTime(60_000);
    expect(t.calls.opened).toEqual([]);

    t.model.roomUpdate(live());
    expect(t.calls.opened).toEqual([1]);
    expect(t.view.state).toBe("connecting");
    expect(t.view.text).toBe("Connecting to “lobby”…");
    // More stats while connecting open nothing more.
    t.model.roomUpdate(live());
    expect(t.calls.opened).toEqual([1]);
  });

  it("connects without the feed when it has said nothing for the first seconds, but not when it said 'not live'", () => {
    const silent = harness();
    silent.model.start();
    vi.advanceTimersByTime(FEED_SILENT_MS);
    expect(silent.calls.opened).toEqual([]);
    vi.advanceTimersByTime(200);
    expect(silent.calls.opened).toEqual([1]);

    const told = harness();
    told.model.start();
    told.model.roomUpdate(undefined);
    vi.advanceTimersByTime(FEED_SILENT_MS + 200);
    expect(told.calls.opened).toEqual([]);
  });

  it("the publisher leaving ends the session without a DELETE and waits; its return connects again", () => {
    const t = connectedOnce();
    expect(t.model.negotiated(1)).toBe(true);
    t.model.playing();
    expect(t.view.state).toBe("live");
    t.model.roomClosed();
    expect(t.calls.closed).toEqual([false]);
    expect(t.view.state).toBe("waiting");
    expect(t.view.text).toMatch(/^The publisher left\. Waiting for the publisher/);
    expect(t.view.viewers).toBeUndefined();
    t.model.roomUpdate(live());
    expect(t.calls.opened).toEqual([1, 2]);
  });

  it("a 404 (the publisher left between the feed's word and the offer) waits for the feed, not for a timer", () => {
    const t = connectedOnce();
    t.model.failed(1, new ApiError(404, "no active publisher in room"));
    expect(t.view.state).toBe("waiting");
    expect(t.view.notice).toBeUndefined();
    vi.advanceTimersByTime(30_000);
    expect(t.calls.opened).toEqual([1]);
    t.model.roomUpdate(live());
    expect(t.calls.opened).toEqual([1, 2]);
  });

  it("'playing' makes it live only while it has a connection", () => {
    const t = harness();
    t.model.start();
    t.model.playing();
    expect(t.view.state).toBe("waiting");
  });

  it("shows the feed's viewer count", () => {
    const t = harness();
    t.model.start();
    t.model.roomUpdate(stats({ viewers: 3 }));
    expect(t.view.viewers).toBe(3);
    t.model.viewerCount(4);
    expect(t.view.viewers).toBe(4);
  });
});

describe("player: reconnect backoff", () => {
  it("doubles the wait after each failure, 1 s up to 10 s, shows the error, and starts again at 1 s after a success", () => {
    const t = connectedOnce();
    const waits: number[] = [];
    for (let attempt = 1; attempt <= 6; attempt++) {
      t.model.failed(attempt, new ApiError(500, "internal server error"));
      expect(t.view.state).toBe("error");
      expect(t.view.notice?.text).toMatch(/answered 500/);
      expect(t.calls.closed).toHaveLength(attempt);
      let waited = 0;
      while (t.calls.opened.length === attempt) {
        vi.advanceTimersByTime(100);
        waited += 100;
        // The room's stats each second must not jump the queue.
        if (waited % 1000 === 0) t.model.roomUpdate(live());
      }
      waits.push(waited);
    }
    expect(waits).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);
    expect(t.view.notice).toBeUndefined(); // cleared by the new attempt

    expect(t.model.negotiated(7)).toBe(true);
    t.model.failed(7, new ApiError(500, "internal server error"));
    vi.advanceTimersByTime(999);
    expect(t.calls.opened).toHaveLength(7);
    vi.advanceTimersByTime(1);
    expect(t.calls.opened).toHaveLength(8);
  });

  it("waits what Retry-After says (a 503 at capacity) instead of its own backoff", () => {
    const t = connectedOnce();
    t.model.failed(1, new ApiError(503, "server is at capacity, try again shortly", 5));
    expect(t.view.text).toMatch(/cannot take this right now/);
    vi.advanceTimersByTime(4999);
    t.model.roomUpdate(live());
    expect(t.calls.opened).toEqual([1]);
    vi.advanceTimersByTime(1);
    expect(t.calls.opened).toEqual([1, 2]);
  });

  it("a network failure (TypeError from fetch) is retried like a server error", () => {
    const t = connectedOnce();
    t.model.failed(1, new TypeError("Failed to fetch"));
    expect(t.view.state).toBe("error");
    expect(t.view.text).toMatch(/cannot be reached/);
    vi.advanceTimersByTime(1000);
    expect(t.calls.opened).toEqual([1, 2]);
  });

  it("a connection disconnected for the grace period is dropped and made again; one that recovers is kept", () => {
    const t = connectedOnce();
    t.model.negotiated(1);
    t.model.peerState(1, "connected");
    expect(t.view.text).toMatch(/^Connected\. Waiting for the first picture/);
    t.model.playing();

    t.model.peerState(1, "disconnected");
    vi.advanceTimersByTime(DISCONNECTED_GRACE_MS - 1);
    t.model.peerState(1, "connected");
    vi.advanceTimersByTime(60_000);
    expect(t.calls.closed).toEqual([]);
    expect(t.view.state).toBe("live");

    t.model.peerState(1, "disconnected");
    vi.advanceTimersByTime(DISCONNECTED_GRACE_MS);
    expect(t.calls.closed).toEqual([false]);
    expect(t.view.state).toBe("waiting");
    expect(t.view.text).toMatch(/^The stream stopped \(the connection was lost\)\./);
    vi.advanceTimersByTime(REJOIN_DELAY_MS - 1);
    expect(t.calls.opened).toEqual([1]);
    vi.advanceTimersByTime(1);
    expect(t.calls.opened).toEqual([1, 2]);
  });

  it("a failed or closed connection, or the stream's DTLS closing, drops it at once", () => {
    const t = connectedOnce();
    t.model.peerState(1, "failed");
    expect(t.view.text).toMatch(/the connection failed/);
    vi.advanceTimersByTime(REJOIN_DELAY_MS);
    expect(t.calls.opened).toEqual([1, 2]);
    t.model.dropped(2, "the stream ended");
    expect(t.view.text).toMatch(/^The stream stopped \(the stream ended\)/);
    expect(t.calls.closed).toEqual([false, false]);
  });

  it("ignores what an ended attempt reports: its late answer is handed back, its errors change nothing", () => {
    const t = connectedOnce();
    t.model.roomClosed();
    expect(t.model.negotiated(1)).toBe(false);
    t.model.failed(1, new ApiError(500, "boom"));
    t.model.peerState(1, "failed");
    t.model.dropped(1, "late");
    expect(t.view.state).toBe("waiting");
    expect(t.view.text).toMatch(/^The publisher left/);
    expect(t.calls.closed).toEqual([false]);
    expect(t.calls.accepted).toBe(0);
  });
});

describe("player: refused and token errors", () => {
  it("a 401 asks for the token and stops trying until the feed is let in", () => {
    const t = connectedOnce();
    t.model.failed(1, new ApiError(401, "unauthorized"));
    expect(t.view.state).toBe("refused");
    expect(t.calls.asked).toHaveLength(1);
    expect(t.calls.asked[0]).toMatch(/needs a token to watch “lobby”/);
    expect(t.view.text).toBe(t.calls.asked[0]);
    t.model.roomUpdate(live());
    vi.advanceTimersByTime(60_000);
    expect(t.calls.opened).toEqual([1]);
    expect(t.view.state).toBe("refused");

    // A new token: the feed reconnects and is let in; the room's next word connects.
    t.model.feedStatus("live");
    expect(t.view.state).toBe("waiting");
    t.model.roomUpdate(live());
    expect(t.calls.opened).toEqual([1, 2]);
    t.model.negotiated(2);
    expect(t.calls.accepted).toBe(1);
  });

  it("a 403 for another room says what the token lacks", () => {
    const t = connectedOnce();
    t.model.failed(1, new ApiError(403, 'forbidden: token is for room "other"'));
    expect(t.view.state).toBe("refused");
    expect(t.calls.asked[0]).toBe('Your token does not allow you to watch “lobby” (token is for room "other").');
  });

  it("a full room (403 subscriber limit) is an error that is retried, not a token question", () => {
    const t = connectedOnce();
    t.model.failed(1, new ApiError(403, "subscriber limit reached"));
    expect(t.view.state).toBe("error");
    expect(t.view.notice?.text).toMatch(/This room is full/);
    expect(t.calls.asked).toEqual([]);
    vi.advanceTimersByTime(1000);
    expect(t.calls.opened).toEqual([1, 2]);
  });

  it("the feed refused (bad token) ends a playing session and asks for the token", () => {
    const t = connectedOnce();
    t.model.negotiated(1);
    t.model.playing();
    t.model.feedStatus("refused", new ApiError(401, "unauthorized"));
    expect(t.calls.closed).toEqual([false]);
    expect(t.view.state).toBe("refused");
    expect(t.calls.asked).toHaveLength(1);
  });
});

describe("player: hidden tab", () => {
  it("polls the room list while the feed is paused, connects when the room is live, stops polling when it resumes", async () => {
    const t = harness();
    t.model.start();
    t.model.roomUpdate(idle());
    t.model.feedStatus("paused");
    await vi.advanceTimersByTimeAsync(HIDDEN_POLL_MS);
    expect(t.calls.polls).toBe(1);
    expect(t.calls.opened).toEqual([]);
    t.answers.roomIsLive = async () => true;
    await vi.advanceTimersByTimeAsync(HIDDEN_POLL_MS);
    expect(t.calls.opened).toEqual([1]);
    // Connected: the poll asks nothing more.
    await vi.advanceTimersByTimeAsync(HIDDEN_POLL_MS);
    expect(t.calls.polls).toBe(2);

    t.model.feedStatus("live");
    t.model.roomClosed();
    await vi.advanceTimersByTimeAsync(HIDDEN_POLL_MS * 3);
    expect(t.calls.polls).toBe(2);
  });

  it("a failing poll is ignored and tried again", async () => {
    const t = harness();
    t.model.start();
    t.model.roomUpdate(idle());
    t.model.feedStatus("paused");
    t.answers.roomIsLive = async () => {
      throw new TypeError("Failed to fetch");
    };
    await vi.advanceTimersByTimeAsync(HIDDEN_POLL_MS * 2);
    expect(t.calls.polls).toBe(2);
    expect(t.view.state).toBe("waiting");
  });

  it("the page going away sends the DELETE with keepalive", () => {
    const t = connectedOnce();
    t.model.negotiated(1);
    t.model.unload();
    expect(t.calls.closed).toEqual(["unload"]);
  });
});

describe("player: quality picker", () => {
  it("LayerPicker: shown for two layers or more, labels with the feed's bitrates, keeps the choice across sessions", () => {
    const p = new LayerPicker();
    expect(p.offer(["source"])).toBeUndefined();
    expect(p.visible).toBe(false);
    expect(p.options).toEqual([]);

    expect(p.offer(["h", "m", "l", "m"])).toBeUndefined();
    expect(p.visible).toBe(true);
    p.setRates([
      { name: "h", bitrate: 2_400_000 },
      { name: "l", bitrate: 150_000 },
    ]);
    expect(p.options).toEqual([
      { value: "", label: "Auto" },
      { value: "h", label: "h · 2.4 Mb/s" },
      { value: "m", label: "m" },
      { value: "l", label: "l · 150 kb/s" },
    ]);
    expect(p.selected).toBe("");

    p.choose("l");
    p.switched();
    expect(p.pinned).toBe(true);
    expect(p.selected).toBe("l");
    p.reset();
    expect(p.visible).toBe(false);
    expect(p.pinned).toBe(false);
    expect(p.chosen).toBe("l");
    // The next session offers the chosen layer: switch to it; one that does not: automatic.
    expect(p.offer(["h", "l"])).toBe("l");
    expect(p.offer(["source", "360p"])).toBeUndefined();
    expect(p.selected).toBe("");
    p.choose("");
    expect(p.chosen).toBeUndefined();
  });

  it("a picked layer is posted and pins the session; back to automatic takes a new session", async () => {
    const t = connectedOnce();
    t.model.negotiated(1);
    await t.model.layersOffered(1, ["h", "m", "l"]);
    expect(t.view.layers.visible).toBe(true);
    expect(t.view.layers.options.map((o) => o.value)).toEqual(["", "h", "m", "l"]);
    expect(t.calls.posted).toEqual([]);

    t.model.chooseLayer("l");
    expect(t.calls.posted).toEqual(["l"]);
    await vi.advanceTimersByTimeAsync(0);
    expect(t.model.picker.pinned).toBe(true);
    expect(t.view.layers.selected).toBe("l");

    t.model.chooseLayer("");
    expect(t.calls.closed).toEqual([true]); // DELETE: the server still has the session
    expect(t.calls.opened).toEqual([1, 2]);
    expect(t.view.text).toBe("Connecting to “lobby”…");
    expect(t.view.layers.visible).toBe(false);
  });

  it("automatic on a session never pinned changes nothing; a refused switch says why", async () => {
    const t = connectedOnce();
    t.model.negotiated(1);
    await t.model.layersOffered(1, ["h", "l"]);
    t.model.chooseLayer("");
    expect(t.calls.closed).toEqual([]);
    expect(t.calls.opened).toEqual([1]);

    t.answers.postLayer = async () => {
      throw new ApiError(400, 'no layer "x" in this room (layers: h, l)');
    };
    t.model.chooseLayer("h");
    await vi.advanceTimersByTimeAsync(0);
    expect(t.model.picker.pinned).toBe(false);
    expect(t.view.notice?.text).toBe('The server refused the request: no layer "x" in this room (layers: h, l).');
  });

  it("a new session is switched to the layer picked before; a stale session's layers are ignored", async () => {
    const t = connectedOnce();
    t.model.negotiated(1);
    await t.model.layersOffered(1, ["h", "l"]);
    t.model.chooseLayer("l");
    await vi.advanceTimersByTimeAsync(0);
    t.model.roomClosed();
    await t.model.layersOffered(1, ["h", "l"]);
    expect(t.view.layers.visible).toBe(false);

    t.model.roomUpdate(live());
    t.model.negotiated(2);
    await t.model.layersOffered(2, ["h", "l"]);
    expect(t.calls.posted).toEqual(["l", "l"]);
    expect(t.model.picker.pinned).toBe(true);
    expect(t.view.layers.selected).toBe("l");
  });

  it("layerLink finds the layer extension's URL among the Link headers, absolute against the session", () => {
    const base = "http://h:8080/api/whep/play/lobby/abc";
    const links = '<stun:stun.example.org:3478>; rel="ice-server", </api/whep/play/lobby/abc/layer>; rel="urn:ietf:params:whep:ext:core:layer"';
    expect(layerLink(links, base)).toBe("http://h:8080/api/whep/play/lobby/abc/layer");
    expect(layerLink('<stun:stun.example.org:3478>; rel="ice-server"', base)).toBeUndefined();
    expect(layerLink("", base)).toBeUndefined();
  });
});

describe("player: the session's events (WHEP events extension)", () => {
  const layers = (...l: [string, number][]) => ({ type: "layers" as const, layers: l.map(([name, bitrate]) => ({ name, bitrate })) });

  it("shows Paused over the last picture while the publication is inactive, Live again when it is active", () => {
    const t = connectedOnce();
    t.model.negotiated(1);
    t.model.playing();
    expect(t.view).toMatchObject({ state: "live", paused: false, text: "" });
    t.model.sessionEvent(1, { type: "inactive" });
    expect(t.view).toMatchObject({ state: "live", paused: true, text: PAUSED_TEXT });
    t.model.sessionEvent(1, { type: "active" });
    expect(t.view).toMatchObject({ state: "live", paused: false, text: "" });
    // A stale session's word changes nothing; a new session starts unpaused.
    t.model.sessionEvent(1, { type: "inactive" });
    t.model.dropped(1, "the stream ended");
    expect(t.view.paused).toBe(false);
    t.model.sessionEvent(1, { type: "active" });
    t.model.sessionEvent(2, { type: "inactive" });
    expect(t.view.paused).toBe(false);
  });

  it("takes the viewer count from the session, and the layers with their bitrates", async () => {
    const t = connectedOnce();
    t.model.negotiated(1);
    t.model.sessionEvent(1, { type: "viewercount", viewercount: 7 });
    expect(t.view.viewers).toBe(7);
    t.model.sessionEvent(1, layers(["h", 1_500_000], ["l", 200_000]));
    await vi.advanceTimersByTimeAsync(0);
    expect(t.view.layers.options.map((o) => o.label)).toEqual(["Auto", "h · 1.5 Mb/s", "l · 200 kb/s"]);
    // New bitrates relabel the same list; nothing is posted.
    t.model.sessionEvent(1, layers(["h", 1_200_000], ["l", 200_000]));
    expect(t.view.layers.options.map((o) => o.label)).toEqual(["Auto", "h · 1.2 Mb/s", "l · 200 kb/s"]);
    t.model.chooseLayer("l");
    await vi.advanceTimersByTimeAsync(0);
    expect(t.calls.posted).toEqual(["l"]);
    t.model.sessionEvent(1, layers(["h", 1_200_000], ["l", 210_000]));
    expect(t.calls.posted).toEqual(["l"]);
  });

  it("parses the draft's messages and ignores what it does not know", () => {
    expect(parseSessionEvent("active", "{}")).toEqual({ type: "active" });
    expect(parseSessionEvent("viewercount", '{"viewercount":3}')).toEqual({ type: "viewercount", viewercount: 3 });
    expect(parseSessionEvent("viewercount", '{"viewercount":"3"}')).toBeUndefined();
    expect(parseSessionEvent("layers", '{"1":[{"rid":"h","bitrate":900000},{"rid":"l"},{"spatialLayerId":0}]}')).toEqual(
      layers(["h", 900_000], ["l", 0]),
    );
    expect(parseSessionEvent("layers", "{}")).toEqual({ type: "layers", layers: [] });
    expect(parseSessionEvent("scte35", "{}")).toBeUndefined();
    expect(parseSessionEvent("active", "not json")).toBeUndefined();
  });

  it("finds the events link among the session's Link headers", () => {
    const base = "http://h:8080/api/whep/play/lobby/abc";
    const links =
      '</api/whep/play/lobby/abc/layer>; rel="urn:ietf:params:whep:ext:core:layer", </api/whep/play/lobby/abc/events>; rel="urn:ietf:params:whep:ext:core:server-sent-events"; events="active,inactive,layers,viewercount"';
    expect(linkOf(links, SSE_REL, base)).toBe("http://h:8080/api/whep/play/lobby/abc/events");
    expect(layerLink(links, base)).toBe("http://h:8080/api/whep/play/lobby/abc/layer");
    expect(linkOf('</x>; rel="urn:ietf:params:whep:ext:core:server-sent-events-v2"', SSE_REL, base)).toBeUndefined();
  });
});
