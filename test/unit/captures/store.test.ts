// The captures folder on a real disk: atomic replaces (a write that dies leaves the previous file whole), ids that
// cannot name anything outside the folder, and the listing as the only way in.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CAPTURE_ID, idOfFileName, isCaptureId, newCaptureId } from "../../../src/captures/ids.ts";
import { CaptureStore, fileWriter, type StoreWriter } from "../../../src/captures/store.ts";

const freshDir = () => join(mkdtempSync(join(tmpdir(), "roomcast-captures-")), "captures");
const ID = "20261208T024215Z-1a2b3c4d";

describe("capture ids", () => {
  it("are made from the start time and random bits, and match the strict pattern", () => {
    const id = newCaptureId(new Date("2026-12-08T02:42:15.123Z"), Uint8Array.from([0x1a, 0x2b, 0x3c, 0x4d]));
    expect(id).toBe(ID);
    expect(CAPTURE_ID.test(newCaptureId(new Date()))).toBe(true);
    expect(newCaptureId(new Date())).not.toBe(newCaptureId(new Date()));
  });

  it("refuse every name that could leave the folder or is not one of ours", () => {
    for (const bad of [
      "",
      "..",
      "../20261208T024215Z-1a2b3c4d",
      "20261208T024215Z-1a2b3c4d/..",
      "%2e%2e%2F20261208T024215Z-1a2b3c4d",
      "..%2F..%2Fetc%2Fpasswd",
      "/etc/passwd",
      "20261208T024215Z-1a2b3c4d.json",
      "20261208T024215Z-1A2B3C4D",
      "20261208T024215Z-1a2b3c4d\n",
      " 20261208T024215Z-1a2b3c4d",
      "20261208T024215Z-1a2b3c4",
    ]) {
      expect(isCaptureId(bad), bad).toBe(false);
    }
    expect(idOfFileName(`${ID}.json`)).toBe(ID);
    expect(idOfFileName(`.${ID}.json.abcd.tmp`)).toBeUndefined();
    expect(idOfFileName("notes.json")).toBeUndefined();
  });
});

describe("CaptureStore", () => {
  it("writes, lists newest first, reads and removes", async () => {
    const store = new CaptureStore(freshDir());
    await store.init();
    const older = "20261207T000000Z-00000000";
    await store.write(older, '{"v":"old"}');
    await store.write(ID, '{"v":1}');
    expect(await store.ids()).toEqual([ID, older]);
    expect(await store.read(ID)).toEqual({ json: '{"v":1}', size: 7 });
    expect(await store.remove(ID)).toBe(true);
    expect(await store.remove(ID)).toBe(false);
    expect(await store.read(ID)).toBeUndefined();
    expect(await store.ids()).toEqual([older]);
  });

  it("keeps the previous file whole when a write dies half way, and leaves no temp file in the listing", async () => {
    const dir = freshDir();
    const real = new CaptureStore(dir);
    await real.init();
    await real.write(ID, '{"v":1}');
    // As a crash would: half the new content reaches the temp file, then the process is gone before the rename.
    const dying: StoreWriter = {
      async writeNew(path, data) {
        await writeFile(path, data.slice(0, data.length / 2));
        throw new Error("killed mid-write");
      },
      rename: fileWriter.rename,
    };
    const store = new CaptureStore(dir, dying);
    await expect(store.write(ID, JSON.stringify({ v: 2, pad: "x".repeat(10_000) }))).rejects.toThrow("killed mid-write");
    expect(JSON.parse(readFileSync(join(dir, `${ID}.json`), "utf8"))).toEqual({ v: 1 });
    // Killed between the flush and the rename: the whole new file exists only under its temp name.
    const noRename: StoreWriter = {
      writeNew: fileWriter.writeNew,
      rename: async () => {
        throw new Error("killed before rename");
      },
    };
    await expect(new CaptureStore(dir, noRename).write(ID, '{"v":3}')).rejects.toThrow("killed before rename");
    expect(await real.read(ID)).toEqual({ json: '{"v":1}', size: 7 });
    expect(await real.ids()).toEqual([ID]);
  });

  it("makes its folder at the first write, not before: a server that never captures leaves nothing", async () => {
    const dir = freshDir();
    const store = new CaptureStore(dir);
    await store.init();
    expect(await store.ids()).toEqual([]);
    expect(existsSync(dir)).toBe(false);
    await store.write(ID, "{}");
    expect(readdirSync(dir)).toEqual([`${ID}.json`]);
  });

  it("clears the temp files a crash left behind when it starts", async () => {
    const dir = freshDir();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `.${ID}.json.0badf00d.tmp`), '{"half');
    writeFileSync(join(dir, `${ID}.json`), '{"v":1}');
    await new CaptureStore(dir).init();
    expect(readdirSync(dir)).toEqual([`${ID}.json`]);
  });

  it("applies writes of one capture in the order they were asked for", async () => {
    const store = new CaptureStore(freshDir());
    await store.init();
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.write(ID, JSON.stringify({ v: i }))));
    expect((await store.read(ID))?.json).toBe('{"v":19}');
  });

  it("reaches only capture files listed in the folder: no traversal, no symlinks, no strays", async () => {
    const root = mkdtempSync(join(tmpdir(), "roomcast-captures-"));
    const dir = join(root, "captures");
    const store = new CaptureStore(dir);
    mkdirSync(dir);
    await store.init();
    writeFileSync(join(root, "secret.json"), '{"secret":true}');
    writeFileSync(join(dir, "notes.json"), "{}");
    const linked = "20261208T000000Z-deadbeef";
    symlinkSync(join(root, "secret.json"), join(dir, `${linked}.json`));
    for (const id of ["../secret", "..%2Fsecret", `/${root}/secret`, "notes", linked]) {
      expect(await store.read(id), id).toBeUndefined();
      expect(await store.remove(id), id).toBe(false);
    }
    expect(existsSync(join(root, "secret.json"))).toBe(true);
    await expect(store.write("../secret", "{}")).rejects.toThrow("not a capture id");
  });
});
