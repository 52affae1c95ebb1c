// The recordings folder as the API and retention see it: an index of the recording files in RECORD_DIR, kept by
// the server instead of read from the disk on every request (issue 14: with 20,000 files one listing read and
// stat'ed them all, 0.3-0.45 s, and 100 at once took the server to 3.7 GB). The index is read at start, updated when
// the server begins, finishes, remuxes or deletes a file, and read again on a slow timer (rescan) for files added
// or removed by hand. Only names of recordings that were regular files directly in the folder are ever indexed, so
// a request can only ever reach such a file.
//
// Order: newest first by modification time, then name. A file being written is listed by the time of its last
// write, so it rises as it grows; the listing is served in pages from a cursor (the last entry's time and name).
import type { Dirent, Stats } from "node:fs";
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

/** The file system as the store uses it: a port, so tests can count what a request costs. */
export interface RecordFs {
  readdir(dir: string): Promise<Pick<Dirent, "name" | "isFile">[]>;
  lstat(path: string): Promise<Pick<Stats, "isFile" | "size" | "mtimeMs">>;
  unlink(path: string): Promise<void>;
}

export const nodeRecordFs: RecordFs = {
  readdir: (dir) => readdir(dir, { withFileTypes: true }),
  lstat: (path) => lstat(path),
  unlink: (path) => unlink(path),
};

/** What the recorder says of a file it is writing: bytes in the file, and when it last wrote. */
export interface RecordProgress {
  size: number;
  mtimeMs: number;
}

/** Where a page starts: after the entry with this time and name. */
export interface RecordCursor {
  mtimeMs: number;
  name: string;
}

export interface PageOptions {
  /** Rooms the caller may see; asked once per room in the index, never per file. */
  visible: (room: string) => boolean;
  room?: string;
  limit: number;
  after?: RecordCursor;
}

interface Indexed {
  readonly name: string;
  readonly parsed: ParsedRecordName;
  size: number;
  mtimeMs: number;
}

interface Active {
  entry: Indexed;
  progress: (() => RecordProgress) | undefined;
}

/** Descending by time, then name: negative when `a` comes first. */
function compare(aTime: number, aName: string, bTime: number, bName: string): number {
  if (aTime !== bTime) return bTime - aTime;
  return aName > bName ? -1 : aName < bName ? 1 : 0;
}

/** One list kept in listing order. */
class SortedList {
  readonly items: Indexed[] = [];

  /** Index of the first item that comes after (time, name), or of (time, name) itself when `inclusive`. */
  position(time: number, name: string, inclusive = false): number {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const it = this.items[mid] as Indexed;
      const c = compare(it.mtimeMs, it.name, time, name);
      if (c < 0 || (!inclusive && c === 0)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  insert(e: Indexed): void {
    this.items.splice(this.position(e.mtimeMs, e.name, true), 0, e);
  }

  remove(e: Indexed): void {
    const at = this.position(e.mtimeMs, e.name, true);
    if (this.items[at] === e) this.items.splice(at, 1);
  }
}

export class RecordStore {
  readonly dir: string;
  readonly #fs: RecordFs;
  /** Finished (or not ours) files by name; the same objects in #all and in their room's list. */
  readonly #files = new Map<string, Indexed>();
  readonly #all = new SortedList();
  readonly #rooms = new Map<string, SortedList>();
  /** Files being written now. */
  readonly #active = new Map<string, Active>();
  #loaded: Promise<void> | undefined;
  #scanning: Promise<void> | undefined;
  #scanned = false;

  constructor(dir: string, fs: RecordFs = nodeRecordFs) {
    this.dir = dir;
    this.#fs = fs;
  }

  /** Reads the folder into the index, once; every read of the index waits for it. */
  load(): Promise<void> {
    this.#loaded ??= this.rescan();
    return this.#loaded;
  }

  /** A recorder started writing `name`. */
  begin(name: string, progress?: () => RecordProgress): void {
    const parsed = parseRecordName(name);
    if (!parsed) return;
    const known = this.#files.get(name);
    if (known) this.#unindex(known);
    this.#active.set(name, { entry: known ?? { name, parsed, size: 0, mtimeMs: Date.now() }, progress });
  }

  /** The recorder finished `name`: it joins the finished files, and one stat corrects its size and time. */
  end(name: string): void {
    const a = this.#active.get(name);
    if (!a) return;
    this.#active.delete(name);
    const now = a.progress?.();
    if (now) {
      a.entry.size = now.size;
      a.entry.mtimeMs = now.mtimeMs;
    }
    this.#index(a.entry);
    void this.refresh(name);
  }

  isActive(name: string): boolean {
    return this.#active.has(name);
  }

  /** Stats one file and puts what it finds in the index (a new file, a changed one, or one that is gone). */
  async refresh(name: string): Promise<void> {
    const parsed = parseRecordName(name);
    if (!parsed || this.#active.has(name)) return;
    const st = await this.#stat(name);
    if (this.#active.has(name)) return;
    const known = this.#files.get(name);
    if (known) this.#unindex(known);
    if (st) this.#index({ name, parsed, size: st.size, mtimeMs: st.mtimeMs });
  }

  /**
   * Reads the folder again: adds recordings that appeared (stat'ing only those), drops those that are gone. Files
   * being written are left to their recorder. One scan at a time; a second call joins the running one.
   */
  rescan(): Promise<void> {
    this.#scanning ??= this.#rescan().finally(() => (this.#scanning = undefined));
    return this.#scanning;
  }

  async #rescan(): Promise<void> {
    let entries: Pick<Dirent, "name" | "isFile">[];
    try {
      entries = await this.#fs.readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      entries = [];
    }
    const present = new Set<string>();
    const added: string[] = [];
    for (const e of entries) {
      // Symlinks are not followed: only regular files that live in the folder itself.
      if (!e.isFile() || parseRecordName(e.name) === undefined) continue;
      present.add(e.name);
      // A file marked as being written before the first scan, by a caller that reports no progress: stat it too.
      const active = this.#active.get(e.name);
      if (active ? active.progress === undefined && !this.#scanned : !this.#files.has(e.name)) added.push(e.name);
    }
    for (const [name, e] of this.#files) if (!present.has(name)) this.#unindex(e);
    // Bounded concurrency: a folder of 20,000 new files is not 20,000 stats in flight at once.
    for (let i = 0; i < added.length; i += 64) {
      const batch = added.slice(i, i + 64);
      const stats = await Promise.all(batch.map((n) => this.#stat(n)));
      batch.forEach((name, k) => {
        const st = stats[k];
        const parsed = parseRecordName(name);
        if (!st || !parsed || this.#files.has(name)) return;
        const active = this.#active.get(name);
        if (active) {
          active.entry.size = st.size;
          active.entry.mtimeMs = st.mtimeMs;
        } else this.#index({ name, parsed, size: st.size, mtimeMs: st.mtimeMs });
      });
    }
    this.#scanned = true;
  }

  /** Every recording, newest first (retention, tests). No I/O once loaded. */
  async list(): Promise<StoredRecord[]> {
    await this.load();
    return this.#merged(this.#all.items, this.#activeEntries(() => true, undefined), Number.POSITIVE_INFINITY);
  }

  /**
   * One page of the listing: the rooms the caller may see are picked before anything else (a token that opens no
   * room costs one check per room in the index), then at most `limit` entries after the cursor. `next` is where
   * the following page starts, when there is one. No I/O once loaded.
   */
  async page(opts: PageOptions): Promise<{ records: StoredRecord[]; next: RecordCursor | undefined }> {
    await this.load();
    let finished: readonly Indexed[];
    const rooms = opts.room !== undefined ? [opts.room] : [...this.#rooms.keys()];
    const open = rooms.filter((r) => opts.visible(r));
    if (opts.room === undefined && open.length === rooms.length) finished = this.#after(this.#all, opts.after, opts.limit + 1);
    else {
      const lists = open.map((r) => this.#rooms.get(r)).filter((l): l is SortedList => l !== undefined);
      finished = mergeLists(lists.map((l) => this.#after(l, opts.after, opts.limit + 1)), opts.limit + 1);
    }
    const roomFilter = (room: string) => (opts.room === undefined || room === opts.room) && opts.visible(room);
    const all = this.#merged(finished, this.#activeEntries(roomFilter, opts.after), opts.limit + 1);
    const records = all.slice(0, opts.limit);
    const last = records[records.length - 1];
    return { records, next: all.length > opts.limit && last ? { mtimeMs: last.mtimeMs, name: last.name } : undefined };
  }

  /** The recording of exactly this name, if the index has it: one stat of that file (its size may have grown). */
  async find(name: string): Promise<StoredRecord | undefined> {
    if (parseRecordName(name) === undefined) return undefined;
    await this.load();
    const e = this.#active.get(name)?.entry ?? this.#files.get(name);
    if (!e) return undefined;
    const st = await this.#stat(name);
    if (!st) {
      if (!this.#active.has(name)) this.#unindex(e);
      return undefined;
    }
    return this.#record({ ...e, size: st.size, mtimeMs: st.mtimeMs }, this.#active.has(name));
  }

  async remove(name: string): Promise<RemoveResult> {
    if (parseRecordName(name) === undefined) return "not_found";
    await this.load();
    if (this.#active.has(name)) return "in_progress";
    const e = this.#files.get(name);
    if (!e) return "not_found";
    // Still a regular file in the folder? A name swapped for a symlink by hand is not followed.
    if (!(await this.#stat(name))) {
      this.#unindex(e);
      return "not_found";
    }
    try {
      await this.#fs.unlink(join(this.dir, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      this.#unindex(e);
      return "not_found";
    }
    this.#unindex(e);
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
      if (r.inProgress || gone.has(r.name) || this.#active.has(r.name)) return;
      try {
        await this.#fs.unlink(r.path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
      const e = this.#files.get(r.name);
      if (e) this.#unindex(e);
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
      names = (await this.#fs.readdir(this.dir)).map((e) => e.name);
    } catch {
      return [];
    }
    const removed: string[] = [];
    for (const n of names.filter(isTempFileName)) {
      await this.#fs.unlink(join(this.dir, n)).then(
        () => removed.push(n),
        () => undefined,
      );
    }
    return removed;
  }

  /** Files in the index (finished and in progress): for tests and metrics. */
  get size(): number {
    return this.#files.size + this.#active.size;
  }

  #index(e: Indexed): void {
    this.#files.set(e.name, e);
    this.#all.insert(e);
    let list = this.#rooms.get(e.parsed.room);
    if (!list) this.#rooms.set(e.parsed.room, (list = new SortedList()));
    list.insert(e);
  }

  #unindex(e: Indexed): void {
    if (this.#files.get(e.name) !== e) return;
    this.#files.delete(e.name);
    this.#all.remove(e);
    const list = this.#rooms.get(e.parsed.room);
    list?.remove(e);
    if (list?.items.length === 0) this.#rooms.delete(e.parsed.room);
  }

  #after(list: SortedList, after: RecordCursor | undefined, count: number): Indexed[] {
    const start = after ? list.position(after.mtimeMs, after.name) : 0;
    return list.items.slice(start, start + count);
  }

  /** Files being written that pass `filter`, with their current size and time, in listing order. */
  #activeEntries(filter: (room: string) => boolean, after: RecordCursor | undefined): Indexed[] {
    const out: Indexed[] = [];
    for (const { entry, progress } of this.#active.values()) {
      if (!filter(entry.parsed.room)) continue;
      const p = progress?.();
      const e = p ? { ...entry, size: p.size, mtimeMs: Math.max(entry.mtimeMs, p.mtimeMs) } : entry;
      if (after && compare(e.mtimeMs, e.name, after.mtimeMs, after.name) <= 0) continue;
      out.push(e);
    }
    return out.sort((a, b) => compare(a.mtimeMs, a.name, b.mtimeMs, b.name));
  }

  #merged(finished: readonly Indexed[], active: readonly Indexed[], limit: number): StoredRecord[] {
    const out: StoredRecord[] = [];
    let i = 0;
    let j = 0;
    while (out.length < limit && (i < finished.length || j < active.length)) {
      const f = finished[i];
      const a = active[j];
      if (a && (!f || compare(a.mtimeMs, a.name, f.mtimeMs, f.name) <= 0)) {
        out.push(this.#record(a, true));
        j++;
      } else if (f) {
        out.push(this.#record(f, false));
        i++;
      }
    }
    return out;
  }

  #record(e: Indexed, inProgress: boolean): StoredRecord {
    return {
      name: e.name,
      size: e.size,
      // The reference shows whole seconds: 2024-03-10T12:34:56Z.
      modTime: new Date(e.mtimeMs).toISOString().replace(/\.\d{3}Z$/, "Z"),
      url: `/records/${encodeURIComponent(e.name)}`,
      room: e.parsed.room,
      kind: e.parsed.kind,
      inProgress,
      path: join(this.dir, e.name),
      mtimeMs: e.mtimeMs,
      contentType: CONTENT_TYPES[e.parsed.ext],
    };
  }

  /** A regular file directly in the folder, or undefined. */
  async #stat(name: string): Promise<Pick<Stats, "size" | "mtimeMs"> | undefined> {
    try {
      const st = await this.#fs.lstat(join(this.dir, name));
      return st.isFile() ? st : undefined;
    } catch {
      return undefined;
    }
  }
}

/** Merges lists already in listing order into their first `count` entries: a heap of the lists' heads. */
function mergeLists(lists: readonly (readonly Indexed[])[], count: number): Indexed[] {
  if (lists.length === 1) return (lists[0] as Indexed[]).slice(0, count);
  const heads: { list: readonly Indexed[]; at: number }[] = lists.filter((l) => l.length > 0).map((list) => ({ list, at: 0 }));
  const key = (h: { list: readonly Indexed[]; at: number }) => h.list[h.at] as Indexed;
  const before = (a: number, b: number) => {
    const x = key(heads[a] as (typeof heads)[number]);
    const y = key(heads[b] as (typeof heads)[number]);
    return compare(x.mtimeMs, x.name, y.mtimeMs, y.name) < 0;
  };
  const swap = (a: number, b: number) => ([heads[a], heads[b]] = [heads[b] as (typeof heads)[number], heads[a] as (typeof heads)[number]]);
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heads.length && before(l, m)) m = l;
      if (r < heads.length && before(r, m)) m = r;
      if (m === i) return;
      swap(i, m);
      i = m;
    }
  };
  for (let i = (heads.length >> 1) - 1; i >= 0; i--) down(i);
  const out: Indexed[] = [];
  while (out.length < count && heads.length > 0) {
    const top = heads[0] as (typeof heads)[number];
    out.push(key(top));
    top.at++;
    if (top.at >= top.list.length) {
      const last = heads.pop() as (typeof heads)[number];
      if (heads.length > 0) heads[0] = last;
    }
    down(0);
  }
  return out;
}
