import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { WriteOp } from "../../../src/media/container/ops.ts";
import { FileSink } from "../../../src/media/recorder/fileSink.ts";

const dir = mkdtempSync(join(tmpdir(), "roomcast-sink-"));
const append = (...bytes: number[]): WriteOp => ({ type: "append", data: Buffer.from(bytes) });
const patch = (offset: number, ...bytes: number[]): WriteOp => ({ type: "patch", offset, data: Buffer.from(bytes) });

function sink(path: string, opts: { exclusive?: boolean } = {}) {
  const errors: NodeJS.ErrnoException[] = [];
  let written = 0;
  const s = new FileSink(path, { ...opts, onError: (e) => errors.push(e), onWritten: (n) => (written += n) });
  return { s, errors, written: () => written };
}

describe("FileSink", () => {
  it("applies appends and patches in order, queued before the file is even open", async () => {
    const path = join(dir, "a.bin");
    const { s, errors, written } = sink(path);
    s.write([append(1, 2, 3, 4), patch(0, 9)]);
    s.write([append(5, 6), patch(1, 8), patch(1, 7), append(0xaa)]);
    expect(s.backlog).toBeGreaterThan(0);
    await s.close();
    expect(readFileSync(path)).toEqual(Buffer.from([9, 7, 3, 4, 5, 6, 0xaa]));
    expect(errors).toEqual([]);
    expect([s.state, s.size, s.backlog, written()]).toEqual(["closed", 7, 0, 7]);
    await s.close(); // idempotent
    s.write([append(1)]); // ignored once closed
  });

  it("writes long lists of buffers (beyond IOV_MAX) completely", async () => {
    const path = join(dir, "many.bin");
    const { s } = sink(path);
    const ops = Array.from({ length: 3000 }, (_, i) => append(i & 0xff));
    s.write(ops);
    await s.close();
    expect(readFileSync(path)).toEqual(Buffer.from(Array.from({ length: 3000 }, (_, i) => i & 0xff)));
  });

  it("never overwrites an existing file", async () => {
    const path = join(dir, "exists.bin");
    writeFileSync(path, "keep");
    const { s, errors } = sink(path);
    s.write([append(1)]);
    await s.close();
    expect(errors.map((e) => e.code)).toEqual(["EEXIST"]);
    expect(s.state).toBe("failed");
    expect(readFileSync(path, "utf8")).toBe("keep");
  });

  it("reports a missing folder once and drops what follows", async () => {
    const { s, errors } = sink(join(dir, "no", "such", "dir.bin"));
    s.write([append(1)]);
    s.write([append(2)]);
    await s.close();
    expect(errors.map((e) => e.code)).toEqual(["ENOENT"]);
  });

  it("stops at a full disk (ENOSPC) with one error, and close still resolves", async () => {
    if (!existsSync("/dev/full")) return;
    const { s, errors } = sink("/dev/full", { exclusive: false });
    s.write([append(...Array.from({ length: 4096 }, () => 1))]);
    s.write([append(2)]);
    await s.close();
    expect(errors.map((e) => e.code)).toEqual(["ENOSPC"]);
    expect([s.state, s.size, s.backlog]).toEqual(["failed", 0, 0]);
  });
});
