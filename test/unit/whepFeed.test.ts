// The WHEP events extension's messages (draft-ietf-wish-whep-02): the event list a player asks for, the SSE text,
// and which events a stream's feed sends as the publication, its layers and its audience change.
import { describe, expect, it } from "vitest";
import { formatSse } from "../../src/http/sse.ts";
import { WhepEventList } from "../../src/http/openapi/schemas.ts";
import { LAYERS_REFRESH_MS, WHEP_EVENT_TYPES, WhepFeed, type WhepView } from "../../src/room/whepFeed.ts";

const view = (over: Partial<WhepView> = {}): WhepView => ({
  active: true,
  layers: { "1": [{ rid: "h", bitrate: 1_200_000 }, { rid: "l", bitrate: 300_000 }] },
  viewers: 1,
  ...over,
});

describe("WHEP event list (the schema a POST to {Location}/events is validated with)", () => {
  const check = (v: unknown) => WhepEventList["~standard"].validate(v) as { value?: unknown; issues?: { message: string }[] };
  it("takes a subset of the announced events in any order, and no body at all", () => {
    expect(check(undefined).value).toBeUndefined();
    expect(check(undefined).issues).toBeUndefined();
    expect(check(["viewercount", "active"]).value).toEqual(["viewercount", "active"]);
    expect(check([]).value).toEqual([]);
  });

  it("refuses what is not a list of the events this server sends, saying which", () => {
    for (const bad of [{}, "active", [1], ["active", "scte35"], ["reconnect"], null]) {
      expect(check(bad).issues?.length, JSON.stringify(bad)).toBeGreaterThan(0);
    }
    expect(check(["scte35"]).issues?.[0]?.message).toMatch(/^unknown event "scte35": this server sends active,inactive,layers,viewercount$/);
    expect(check({}).issues?.[0]?.message).toMatch(/JSON array of event names/);
  });
});

describe("formatSse", () => {
  it("writes the event type and one line of JSON data, as the draft's examples", () => {
    expect(formatSse("viewercount", { viewercount: 3 })).toBe('event: viewercount\ndata: {"viewercount":3}\n\n');
    expect(formatSse("active", {})).toBe("event: active\ndata: {}\n\n");
    // A line break inside a string stays escaped on the one data line.
    expect(formatSse("layers", { "0": [{ rid: "a\nb" }] })).toBe('event: layers\ndata: {"0":[{"rid":"a\\nb"}]}\n\n');
    expect(() => formatSse("a\nb", {})).toThrow();
  });
});

describe("WhepFeed", () => {
  it("starts with active, the layers and the viewer count, then sends only what changes", () => {
    const feed = new WhepFeed(WHEP_EVENT_TYPES);
    expect(feed.start(view(), 0)).toEqual([
      { type: "active", data: {} },
      { type: "layers", data: view().layers },
      { type: "viewercount", data: { viewercount: 1 } },
    ]);
    expect(feed.update(view(), 1000)).toEqual([]);
    expect(feed.update(view({ viewers: 3 }), 2000)).toEqual([{ type: "viewercount", data: { viewercount: 3 } }]);
    expect(feed.update(view({ viewers: 3, active: false }), 3000)).toEqual([{ type: "inactive", data: {} }]);
    expect(feed.update(view({ viewers: 3 }), 4000)).toEqual([{ type: "active", data: {} }]);
  });

  it("never starts with inactive", () => {
    const feed = new WhepFeed(WHEP_EVENT_TYPES);
    const first = feed.start(view({ active: false }), 0);
    expect(first.map((e) => e.type)).toEqual(["layers", "viewercount"]);
    expect(feed.end(true)).toEqual([]);
  });

  it("re-sends the layers at once when one appears, goes or stops, and a new bitrate only now and then", () => {
    const feed = new WhepFeed(["layers"]);
    feed.start(view(), 0);
    const slower = view({ layers: { "1": [{ rid: "h", bitrate: 1_100_000 }, { rid: "l", bitrate: 300_000 }] } });
    expect(feed.update(slower, 1000)).toEqual([]);
    expect(feed.update(slower, LAYERS_REFRESH_MS)).toEqual([{ type: "layers", data: slower.layers }]);
    const stopped = view({ layers: { "1": [{ rid: "h", bitrate: 0 }, { rid: "l", bitrate: 300_000 }] } });
    expect(feed.update(stopped, LAYERS_REFRESH_MS + 1000)).toEqual([{ type: "layers", data: stopped.layers }]);
    const gone = view({ layers: { "1": [{ rid: "l", bitrate: 300_000 }] } });
    expect(feed.update(gone, LAYERS_REFRESH_MS + 2000)).toEqual([{ type: "layers", data: gone.layers }]);
  });

  it("sends only the events the player asked for, and inactive at the end when the publication ended", () => {
    const feed = new WhepFeed(["inactive", "viewercount"]);
    expect(feed.start(view(), 0)).toEqual([{ type: "viewercount", data: { viewercount: 1 } }]);
    expect(feed.end(true)).toEqual([{ type: "inactive", data: {} }]);
    const left = new WhepFeed(WHEP_EVENT_TYPES);
    left.start(view(), 0);
    // The viewer left (DELETE): the publication goes on, so it is not "inactive".
    expect(left.end(false)).toEqual([]);
  });
});
