// The recordings folder as the API and retention see it. Every lookup goes through the folder listing, filtered to
// recording names, so a request can only ever reach a regular file directly inside RECORD_DIR.
import { lstat, readdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import { CONTENT_TYPES, isTempFileName, parseRecordName, type ParsedRecordName } from "./names.ts";

interface RecordEntry {
  name: string;
  size: number;
  modTime: string;
  url: string;
  room: string;
  kind: ParsedRecordName["kind"];
  /** Still being written: not deletable, and its size grows. */
  inProgress: boolean;
}

export interface StoredRecord extends RecordEntry {
  path: string;
  mtimeMs: number;
  contentType: string;
}

export type RemoveResult = "deleted" | "in_progress" | "not_found";

export interface SweepOptions {
  maxAgeMs: number | undefined;
  maxBytes: number | undefined;
  now: number;
}

export class RecordStore {
  readonly dir: string;
  /** Names of files being written now. */
  readonly #active = new Set<string>();

  constructor(dir: string) {
    this.dir = dir;
  }

  begin(name: string): void {
    this.#active.add(name);
  }

  end(name: string): void {
    this.#active.delete(name);
  }

  isActive(name: string): boolean {
    return this.#active.has(name);
  }

  /** Every recording, newest first. A missing folder is an empty list. */
  async list(): Promise<StoredRecord[]> {
    let names: string[];
    try {
      const entries = await readdir(this.dir, { withFileTypes: true });
      // Symlinks are not followed: only regular files that live in the folder itself.
      names = entries.filter((e) => e.isFile() && parseRecordName(e.name) !== undefined).map((e) => e.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    const stats = await Promise.all(names.map((n) => this.#stat(n)));
    const out = stats.filter((s): s is StoredRecord => s !== undefined);
    out.sort((a, b) => b.mtimeMs - a.mtimeMs || (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
    return out;
  }

  /** The recording of exactly this name, if the folder lists one. */
  async find(name: string): Promise<StoredRecord | undefined> {
    if (parseRecordName(name) === undefined) return undefined;
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return undefined;
    }
    if (!names.includes(name)) return undefined;
    return this.#stat(name);
  }

  async remove(name: string): Promise<RemoveResult> {
    const rec = await this.find(name);
    if (!rec) return "not_found";
    if (rec.inProgress) return "in_progress";
    try {
      await unlink(rec.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return "not_found";
      throw err;
    }
    return "deleted";
  }

  /** Deletes finished recordings past the age limit, then the oldest while the folder is over the size limit. */
  async sweep(opts: SweepOptions): Promise<{ name: string; size: number; reason: "max_age" | "max_bytes" }[]> {
    if (opts.maxAgeMs === undefined && opts.maxBytes === undefined) return [];
    const all = await this.list();
    const deleted: { name: string; size: number; reason: "max_age" | "max_bytes" }[] = [];
    let total = all.reduce((s, r) => s + r.size, 0);
    const oldestFirst = [...all].reverse();
    const gone = new Set<string>();
    const del = async (r: StoredRecord, reason: "max_age" | "max_bytes") => {
      if (r.inProgress || gone.has(r.name)) return;
      try {
        await unlink(r.path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
      gone.add(r.name);
      total -= r.size;
      deleted.push({ name: r.name, size: r.size, reason });
    };
    if (opts.maxAgeMs !== undefined) {
      for (const r of oldestFirst) if (opts.now - r.mtimeMs > opts.maxAgeMs) await del(r, "max_age");
    }
    if (opts.maxBytes !== undefined) {
      for (const r of oldestFirst) {
        if (total <= opts.maxBytes) break;
        await del(r, "max_bytes");
      }
    }
    return deleted;
  }

  /** Work files a crash left behind. */
  async removeTempFiles(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return [];
    }
    const removed: string[] = [];
    for (const n of names.filter(isTempFileName)) {
      await unlink(join(this.dir, n)).then(
        () => removed.push(n),
        () => undefined,
      );
    }
    return removed;
  }

  async #stat(name: string): Promise<StoredRecord | undefined> {
    const parsed = parseRecordName(name);
    if (!parsed) return undefined;
    const path = join(this.dir, name);
    try {
      const st = await lstat(path);
      if (!st.isFile()) return undefined;
      return {
        name,
        size: st.size,
        // The reference shows whole seconds: 2024-03-10T12:34:56Z.
        modTime: new Date(st.mtimeMs).toISOString().replace(/\.\d{3}Z$/, "Z"),
        url: `/records/${encodeURIComponent(name)}`,
        room: parsed.room,
        kind: parsed.kind,
        inProgress: this.#active.has(name),
        path,
        mtimeMs: st.mtimeMs,
        contentType: CONTENT_TYPES[parsed.ext],
      };
    } catch {
      return undefined;
    }
  }
}
