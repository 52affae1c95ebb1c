// patches/werift@0.25.2.patch moves werift's Event methods from per-instance arrow functions onto the prototype
// (about 70 events a peer connection, 10 closures each: ~22 KB of a viewer's heap) and skips the promise its
// execute() made on every call when nothing awaits. These tests fail if the patch is not applied or changes what
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
