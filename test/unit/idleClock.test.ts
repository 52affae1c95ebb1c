// The idle-publisher reaper counts silence only while the event loop was responsive (issue 14): a stalled loop,
// whose first tick after waking sees none of the packets still unread in the socket, never closes a healthy
// publisher. Driven clock: each tick says how long it has been since the previous one.
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { Metrics } from "../../src/metrics/metrics.ts";
import { IdleClock, LATE_TICK_MS, ROOM_TICK_MS } from "../../src/room/idleClock.ts";
import { PublisherSession } from "../../src/room/publisher.ts";
import { parseOffer } from "../../src/rtc/sdp.ts";
import { loadSdp } from "../fixtures/fixtures.ts";

describe("IdleClock", () => {
  it("counts on-time ticks without activity, and restarts on activity", () => {
    const clock = new IdleClock();
    expect(clock.tick(1000, 5)).toBe(0); // the first tick only learns the activity mark
    expect(clock.tick(1000, 5)).toBe(1000);
    expect(clock.tick(1100, 5)).toBe(2100);
    expect(clock.tick(1000, 6)).toBe(0);
    expect(clock.tick(1000, 6)).toBe(1000);
  });

  it("a late tick (the loop was stalled) restarts the clock instead of counting the stall", () => {
    const clock = new IdleClock();
    clock.tick(1000, 5);
    for (let i = 0; i < 10; i++) clock.tick(1000, 5);
    expect(clock.idleMs).toBe(10_000);
    expect(clock.tick(20_000, 5)).toBe(0);
    // The next tick comes after the socket was read: new packets, still not idle.
    expect(clock.tick(1000, 7)).toBe(0);
  });

  it("the edge of lateness, and clocks that go backwards", () => {
    const clock = new IdleClock();
    clock.tick(1000, 1);
    expect(clock.tick(ROOM_TICK_MS + LATE_TICK_MS, 1)).toBe(ROOM_TICK_MS + LATE_TICK_MS);
    expect(clock.tick(ROOM_TICK_MS + LATE_TICK_MS + 1, 1)).toBe(0);
    clock.tick(1000, 1);
    expect(clock.tick(-5, 1)).toBe(0);
    expect(clock.tick(Number.NaN, 1)).toBe(0);
  });
});

describe("PublisherSession.reapIfIdle", () => {
  const sessions: PublisherSession[] = [];
  afterEach(() => {
    for (const s of sessions.splice(0)) s.close("test done");
  });

  function connectedPublisher() {
    const ctx = { config: loadConfig({}), metrics: new Metrics(), log: pino({ level: "silent" }) };
    const closed: string[] = [];
    const hooks = { onPacket: () => undefined, onLost: () => undefined, onForwarded: () => undefined, onKeyframeRequest: () => undefined, flush: () => undefined };
    const pub = new PublisherSession(ctx, "r", parseOffer(loadSdp("obs-h264-high")), hooks, { onClosed: (_s, reason) => closed.push(reason) });
    sessions.push(pub);
    pub.state = "connected";
    pub.connectedAt = Date.now();
    const packet = () => {
      for (const t of pub.tracks) for (const l of t.sourceLayers) l.lastPacketAt = Date.now() + Math.random();
    };
    return { pub, closed, packet };
  }

  it("a stall longer than the idle limit, with media behind it, does not close the publisher", () => {
    const { pub, closed, packet } = connectedPublisher();
    packet();
    for (let i = 0; i < 5; i++) {
      packet();
      pub.reapIfIdle(1000, 15_000);
    }
    // The loop is held for 20 s: the tick that wakes first sees no new packet (they are still in the socket).
    pub.reapIfIdle(20_000, 15_000);
    expect(closed).toEqual([]);
    packet(); // the socket is read
    pub.reapIfIdle(1000, 15_000);
    expect(closed).toEqual([]);
    expect(pub.closed).toBe(false);
  });

  it("a publisher whose media really stopped is closed after the idle limit of responsive ticks", () => {
    const { pub, closed, packet } = connectedPublisher();
    packet();
    pub.reapIfIdle(1000, 15_000);
    for (let i = 0; i < 15; i++) pub.reapIfIdle(1000, 15_000);
    expect(closed).toEqual([]);
    pub.reapIfIdle(1000, 15_000);
    expect(closed).toEqual(["no media for 15 s"]);
  });

  it("after a stall, a publisher that is really gone is still closed, 15 s of responsive ticks later", () => {
    const { pub, closed, packet } = connectedPublisher();
    packet();
    pub.reapIfIdle(1000, 15_000);
    pub.reapIfIdle(30_000, 15_000);
    for (let i = 0; i < 15; i++) pub.reapIfIdle(1000, 15_000);
    expect(closed).toEqual([]);
    pub.reapIfIdle(1000, 15_000);
    expect(closed).toEqual(["no media for 15 s"]);
  });
});
