// patches/werift@0.25.2.patch moves werift's Event methods from per-instance arrow functions onto the prototype
// (about 70 events a peer connection, 10 closures each: ~22 KB of a viewer's heap), skips the promise its
// execute() made on every call when nothing awaits, and keeps its subscriber lists on the instance, sharing one
// frozen empty list until something subscribes (253 -> 77 bytes an event, as most are never subscribed to). These tests fail if the patch is not applied or changes what
// werift's own code relies on.
import { describe, expect, it } from "vitest";
import { Event } from "werift";

describe("werift Event (patched)", () => {
  it("keeps its methods on the prototype, not on each instance", () => {
    const e = new Event<[number]>();
    const own = Object.getOwnPropertyNames(e).filter((k) => typeof (e as unknown as Record<string, unknown>)[k] === "function");
    // onerror stays an own property (werift assigns it per event) but is shared.
    expect(own).toEqual(["onerror"]);
    expect(e.onerror).toBe(new Event().onerror);
    expect(typeof Event.prototype.execute).toBe("function");
  });

  it("holds no lists of its own until something subscribes, and subscribing to one event leaves the others empty", () => {
    const a = new Event<[number]>();
    const b = new Event<[number]>();
    expect(Object.getOwnPropertyNames(a)).not.toContain("event");
    const lists = (e: Event<[number]>) => e as unknown as { stack: unknown[]; promiseStack: unknown[] };
    expect(lists(a).stack).toBe(lists(b).stack);
    expect(Object.isFrozen(lists(a).stack)).toBe(true);
    const seen: number[] = [];
    a.subscribe((n) => seen.push(n));
    a.queuingSubscribe(async (n) => void seen.push(n * 10));
    expect([a.length, b.length]).toEqual([1, 0]);
    expect(lists(b).promiseStack).toHaveLength(0);
    b.execute(1);
    a.execute(2);
    expect(seen).toEqual([2, 20]);
    // allUnsubscribe goes back to the shared empty list; subscribing again still works.
    a.allUnsubscribe();
    expect(lists(a).stack).toBe(lists(b).stack);
    a.subscribe((n) => seen.push(n));
    a.execute(3);
    expect(seen).toEqual([2, 20, 3]);
    expect(b.length).toBe(0);
  });

  it("delivers to subscribers in order, stops after unSubscribe, and once() fires once", () => {
    const e = new Event<[number]>();
    const seen: string[] = [];
    const a = e.subscribe((n) => seen.push(`a${n}`));
    e.subscribe((n) => seen.push(`b${n}`));
    e.once((n) => seen.push(`once${n}`));
    e.execute(1);
    a.unSubscribe();
    e.execute(2);
    expect(seen).toEqual(["a1", "b1", "once1", "b2"]);
    expect(e.length).toBe(1);
  });

  it("runs queued (awaited) subscribers one after another and reports their errors to onerror", async () => {
    const e = new Event<[number]>();
    const seen: number[] = [];
    const errors: unknown[] = [];
    e.onerror = (err) => errors.push(err);
    e.queuingSubscribe(async (n) => {
      await new Promise((r) => setTimeout(r, 5));
      seen.push(n);
    });
    e.queuingSubscribe(async () => {
      throw new Error("boom");
    });
    e.execute(7);
    await new Promise((r) => setTimeout(r, 30));
    expect(seen).toEqual([7]);
    expect(errors.map((x) => (x as Error).message)).toEqual(["boom"]);
  });

  it("completes once: completion callbacks run, later executes are ignored, asPromise resolves", async () => {
    const e = new Event<[string]>();
    let completed = 0;
    e.subscribe(() => {}, () => completed++);
    const done = e.asPromise();
    e.complete();
    e.complete();
    e.execute("late");
    expect(completed).toBe(1);
    expect(e.ended).toBe(true);
    await expect(done).resolves.toEqual([]);
  });

  it("asPromise and watch resolve with the arguments; asPromise times out", async () => {
    const e = new Event<[number]>();
    const first = e.asPromise();
    const watched = e.watch((n) => n > 1);
    e.execute(1);
    e.execute(2);
    await expect(first).resolves.toEqual([1]);
    await expect(watched).resolves.toEqual([2]);
    await expect(new Event().asPromise(10)).rejects.toBe("Event asPromise timeout");
  });

  it("hands out triggers and listeners that work detached from the event", () => {
    const e = new Event<[number]>();
    const { subscribe } = e.returnListener;
    const { execute } = e.returnTrigger;
    const seen: number[] = [];
    subscribe((n) => seen.push(n));
    execute(3);
    expect(seen).toEqual([3]);
  });
});
