// What the directory accepts from outside its process (Redis values, the bus, IPC): every shape it knows, and
// the bad values it drops instead of trusting.
import { describe, expect, it } from "vitest";
import { parseClusterMessage, parseEnvelope, parseJson, parseNodeInfo, parsePresenceList } from "../../../src/cluster/messages.ts";

describe("cluster messages", () => {
  it("accepts each message type", () => {
    const good = [
      { type: "close-room", room: "demo", reason: "closed by admin" },
      { type: "delete-recording", name: "demo_video0_1.ivf" },
      { type: "end-session", sessionId: "AAAAxxxx", reason: "r" },
      { type: "room-opened", room: "demo", node: "AAAA" },
      { type: "room-closed", room: "demo", node: "AAAA" },
      { type: "node-left", node: "AAAA" },
    ];
    for (const m of good) expect(parseClusterMessage(m)).toEqual(m);
  });

  it("drops unknown types, missing or mistyped fields, bad room names and node ids, oversized text", () => {
    const bad = [
      null,
      "close-room",
      [],
      { type: "reboot" },
      { type: "close-room", room: "demo" },
      { type: "close-room", room: "a/b", reason: "" },
      { type: "close-room", room: "x".repeat(65), reason: "" },
      { type: "close-room", room: "demo", reason: "x".repeat(2000) },
      { type: "delete-recording", name: "" },
      { type: "end-session", sessionId: 5, reason: "" },
      { type: "room-opened", room: "demo", node: "AAAAA" },
      { type: "node-left" },
    ];
    for (const m of bad) expect(parseClusterMessage(m)).toBeUndefined();
    expect(parseClusterMessage({ type: "node-left", node: "AAAA", extra: 1 })).toEqual({ type: "node-left", node: "AAAA" });
  });

  it("needs a sender node id on an envelope", () => {
    expect(parseEnvelope({ from: "AAAA", msg: { type: "node-left", node: "BBBB" } })).toEqual({ from: "AAAA", msg: { type: "node-left", node: "BBBB" } });
    expect(parseEnvelope({ from: "x", msg: { type: "node-left", node: "BBBB" } })).toBeUndefined();
    expect(parseEnvelope({ from: "AAAA", msg: { type: "nope" } })).toBeUndefined();
  });

  it("parses node records and presence lists, leaving out what does not parse", () => {
    const info = { id: "AAAA", url: "http://a", startedAt: 5, load: { cpu: 0.5, viewers: 1, rooms: 1, headroomPps: 9 } };
    expect(parseNodeInfo(info)).toEqual(info);
    expect(parseNodeInfo({ ...info, load: { ...info.load, cpu: -1 } })).toBeUndefined();
    expect(parseNodeInfo({ ...info, load: { ...info.load, viewers: Number.NaN } })).toBeUndefined();
    expect(parseNodeInfo({ ...info, id: "A" })).toBeUndefined();
    const p = { room: "r", origin: true, hasPublisher: true, tracks: 2, viewers: 3, layers: 1 };
    expect(parsePresenceList([p, { ...p, room: "" }, { ...p, viewers: "3" }, 7])).toEqual([p]);
    expect(parsePresenceList({ not: "a list" })).toEqual([]);
    // The live views' figures are kept when they parse; a bad one is left out, not the room.
    const withFigures = { ...p, bitrate: 2_500_000, liveSince: 1_700_000_000_000 };
    expect(parsePresenceList([withFigures])).toEqual([withFigures]);
    expect(parsePresenceList([{ ...p, bitrate: -1, liveSince: "yesterday" }])).toStrictEqual([p]);
    expect(parseJson("{")).toBeUndefined();
  });
});
