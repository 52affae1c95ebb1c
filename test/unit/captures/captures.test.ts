// The captures service on a real folder, fed by a room source the test drives: one sample a tick, saves while it
// runs and at the end, every way a capture ends, and the bounds (duration, count, size) as typed refusals.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { Captures, type CaptureRoomEvent, type CaptureRooms } from "../../../src/captures/captures.ts";
import { CaptureError } from "../../../src/captures/errors.ts";
import type { RoomSnapshot } from "../../../src/captures/sampler.ts";
import type { CaptureFile } from "../../../src/api.ts";

const log = pino({ level: "silent" });

class Rooms implements CaptureRooms {
  readonly open = new Set<string>(["demo"]);
  bytes = 0;
  readonly listeners = new Set<(e: CaptureRoomEvent) => void>();
  snapshot(room: string): RoomSnapshot | undefined {
    if (!this.open.has(room)) return undefined;
    this.bytes += 12_500;
    return {
      at: Date.now(),
      publisherState: "connected",
      tracks: [{ index: 0, kind: "video", codec: "video/VP8", packets: this.bytes / 1000, lost: 0, layers: [{ name: "source", rendition: false, bytes: this.bytes, packets: this.bytes / 1000, frames: this.bytes / 1000, viewers: 0 }] }],
      viewers: [],
      transcoder: null,
    };
  }
  subscribe(listener: (e: CaptureRoomEvent) => void) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  emit(e: CaptureRoomEvent) {
    for (const l of this.listeners) l(e);
  }
  close(room: string) {
    this.open.delete(room);
    this.emit({ type: "room-closed", room });
  }
}

const services: Captures[] = [];
afterEach(async () => {
  for (const s of services.splice(0)) await s.close();
});

type Opts = ConstructorParameters<typeof Captures>[0];
async function service(opts: { limits?: Opts["limits"]; dir?: string; writer?: Opts["writer"] } = {}) {
  const rooms = new Rooms();
  const dir = opts.dir ?? join(mkdtempSync(join(tmpdir(), "roomcast-captures-")), "captures");
  const captures = new Captures({ dir, rooms, log, version: "0.0.0-test", intervalMs: 20, saveEveryMs: 60, limits: opts.limits, writer: opts.writer });
  services.push(captures);
  await captures.init();
  return { captures, rooms, dir };
}

async function until<T>(what: () => Promise<T | undefined> | T | undefined, label: string, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await what();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const parse = (json: string) => JSON.parse(json) as CaptureFile;
const fileOf = (dir: string, id: string) => parse(readFileSync(join(dir, `${id}.json`), "utf8"));

async function expectRefusal(p: Promise<unknown>, code: CaptureError["code"]) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CaptureError);
  expect((err as CaptureError).code).toBe(code);
}

describe("Captures", () => {
  it("samples while running, saves on the way and for good when stopped", async () => {
    const { captures, dir } = await service();
    const started = await captures.start("demo", 60);
    expect(started).toMatchObject({ room: "demo", state: "running", maxSeconds: 60 });
    // Served from memory while it runs, samples so far included.
    const live = await until(async () => {
      const f = parse(await captures.json(started.id));
      return f.samples.length >= 3 ? f : undefined;
    }, "three samples");
    expect(live.state).toBe("running");
    expect(live.samples[0]?.tracks[0]?.bitrate).toBeGreaterThan(0);
    // And saved while it runs, not only at the end.
    await until(() => {
      try {
        return fileOf(dir, started.id).samples.length > 0 || undefined;
      } catch {
        return undefined;
      }
    }, "a save while running");
    const stopped = await captures.stop(started.id);
    expect(stopped).toMatchObject({ state: "stopped", stopReason: "stopped" });
    const saved = fileOf(dir, started.id);
    expect(saved.state).toBe("stopped");
    expect(saved.samples.length).toBe(stopped.sampleCount);
    expect(parse(await captures.json(started.id)).samples.length).toBe(saved.samples.length);
    // A second stop changes nothing.
    expect(await captures.stop(started.id)).toEqual(stopped);
    expect((await captures.list()).map((c) => [c.id, c.state])).toEqual([[started.id, "stopped"]]);
  });

  it("puts sessions joining and leaving on the timeline, and stops when the room closes", async () => {
    const { captures, rooms, dir } = await service();
    const { id } = await captures.start("demo");
    rooms.emit({ type: "session-opened", room: "demo", kind: "viewer", session: "v1" });
    rooms.emit({ type: "session-opened", room: "other", kind: "viewer", session: "x" });
    rooms.emit({ type: "session-closed", room: "demo", kind: "viewer", session: "v1" });
    rooms.emit({ type: "session-closed", room: "demo", kind: "publisher", session: "p1" });
    rooms.close("demo");
    const f = await until(() => {
      try {
        const saved = fileOf(dir, id);
        return saved.state === "stopped" ? saved : undefined;
      } catch {
        return undefined;
      }
    }, "the final save");
    expect(captures.running).toBe(0);
    expect(f.stopReason).toBe("room-closed");
    expect(f.events.map((e) => [e.type, e.session])).toEqual([
      ["viewer.joined", "v1"],
      ["viewer.left", "v1"],
      ["publisher.left", "p1"],
    ]);
  });

  it("stops at its maximum duration", async () => {
    const { captures, dir } = await service({ limits: { maxSeconds: 1 } });
    const { id } = await captures.start("demo", 1);
    // 1 s at a 20 ms interval is 50 samples; the test shortens time, not the rule.
    await until(() => (captures.running === 0 ? true : undefined), "max duration");
    await captures.close();
    const f = fileOf(dir, id);
    expect(f.stopReason).toBe("max-duration");
    expect(f.samples.length).toBeLessThanOrEqual(1000 / 20 + 1);
  });

  it("stops at its maximum size, with a file under the limit", async () => {
    const { captures, dir } = await service({ limits: { maxBytes: 4096 } });
    const { id } = await captures.start("demo");
    await until(() => (captures.running === 0 ? true : undefined), "size limit");
    await captures.close();
    const text = readFileSync(join(dir, `${id}.json`), "utf8");
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(4096);
    const f = parse(text);
    expect(f.stopReason).toBe("size-limit");
    expect(f.samples.length).toBeGreaterThan(3);
  });

  it("refuses an unknown room, a second capture of a room, bad durations and more captures than kept", async () => {
    const { captures, rooms } = await service({ limits: { maxCaptures: 2, maxSeconds: 100 } });
    await expectRefusal(captures.start("nowhere"), "room_not_found");
    for (const bad of [0, -1, 1.5, 101, Number.NaN]) await expectRefusal(captures.start("demo", bad), "invalid");
    const first = await captures.start("demo");
    await expectRefusal(captures.start("demo"), "already_running");
    rooms.open.add("two");
    rooms.open.add("three");
    await captures.start("two");
    await expectRefusal(captures.start("three"), "too_many");
    // Deleting one makes room, a running one included (it is stopped first).
    await captures.remove(first.id);
    expect((await captures.start("three")).room).toBe("three");
  });

  it("answers not found for ids that are not its own, and deletes what it has", async () => {
    const { captures } = await service();
    for (const id of ["../x", "..%2F..%2Fetc", "/etc/passwd", "20261208T024215Z-00000000"]) {
      await expectRefusal(captures.json(id), "not_found");
      await expectRefusal(captures.stop(id), "not_found");
      await expectRefusal(captures.remove(id), "not_found");
    }
    const { id } = await captures.start("demo");
    await captures.stop(id);
    await captures.remove(id);
    await expectRefusal(captures.json(id), "not_found");
    expect(await captures.list()).toEqual([]);
  });

  it("saves running captures on shutdown, and a restarted server lists a crashed one as interrupted", async () => {
    const first = await service();
    const { id } = await first.captures.start("demo");
    await until(async () => (parse(await first.captures.json(id)).samples.length >= 2 ? true : undefined), "samples");
    await first.captures.close();
    expect(fileOf(first.dir, id)).toMatchObject({ state: "stopped", stopReason: "server-shutdown" });

    // A server killed while capturing leaves a file that says running.
    const crashed = await service();
    const c2 = await crashed.captures.start("demo");
    await until(() => {
      try {
        return fileOf(crashed.dir, c2.id).state === "running" || undefined;
      } catch {
        return undefined;
      }
    }, "a save while running");
    // What the crash leaves on disk, seen by the next server (the crashed one goes on writing in its own folder).
    const leftover = join(mkdtempSync(join(tmpdir(), "roomcast-captures-")), "captures");
    mkdirSync(leftover);
    copyFileSync(join(crashed.dir, `${c2.id}.json`), join(leftover, `${c2.id}.json`));
    const again = await service({ dir: leftover });
    expect((await again.captures.list()).find((c) => c.id === c2.id)?.state).toBe("interrupted");
    expect(parse(await again.captures.json(c2.id)).state).toBe("interrupted");
  });

  it("keeps serving a capture from memory when the disk refuses it (a full disk), stopped or not", async () => {
    const full = {
      writeNew: async () => {
        throw Object.assign(new Error("no space left on device"), { code: "ENOSPC" });
      },
      rename: async () => undefined,
    };
    const { captures } = await service({ writer: full });
    const { id } = await captures.start("demo");
    await until(async () => (parse(await captures.json(id)).samples.length >= 2 ? true : undefined), "samples");
    const stopped = await captures.stop(id);
    expect(stopped.state).toBe("stopped");
    const f = parse(await captures.json(id));
    expect(f.state).toBe("stopped");
    expect(f.samples.length).toBe(stopped.sampleCount);
    expect((await captures.list()).map((c) => [c.id, c.state])).toEqual([[id, "stopped"]]);
  });
});
