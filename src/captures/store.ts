// DATA_DIR/captures: one JSON file per capture, named by its id. A file is replaced atomically (written to a temp
// file in the same folder, flushed, then renamed over the old one), so a crash mid-write leaves the previous
// version whole. Every lookup goes through the folder's listing filtered to capture ids, so a request can reach
// nothing but a capture file directly inside the folder.
import { randomBytes } from "node:crypto";
import { lstat, mkdir, open, readdir, readFile, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { captureFileName, idOfFileName, isCaptureId } from "./ids.ts";

/** The two steps of a replace, apart so that a test can fail one as a crash would. */
export interface StoreWriter {
  /** Writes `data` to a new file at `path` and flushes it to disk. */
  writeNew(path: string, data: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
}

export const fileWriter: StoreWriter = {
  async writeNew(path, data) {
    const fh = await open(path, "wx", 0o600);
    try {
      await fh.writeFile(data, "utf8");
      // Without it, a power cut after the rename can leave an empty file under the final name.
      await fh.datasync();
    } finally {
      await fh.close();
    }
  },
  rename,
};

const isTempName = (name: string) => name.startsWith(".") && name.endsWith(".tmp");

export class CaptureStore {
  readonly dir: string;
  readonly #writer: StoreWriter;
  /** One write at a time per file: the last one asked for lands last. */
  readonly #pending = new Map<string, Promise<void>>();
  /** The folder is made at the first write: a server that never captures leaves no trace in DATA_DIR. */
  #made = false;

  constructor(dir: string, writer: StoreWriter = fileWriter) {
    this.dir = dir;
    this.#writer = writer;
  }

  /** Removes the temp files a crash left behind (a folder that does not exist yet has none). */
  async init(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    for (const name of names) {
      if (isTempName(name)) await unlink(join(this.dir, name)).catch(() => undefined);
    }
  }

  /** Replaces the capture's file with `json`, atomically; writes of one id are applied in order. */
  write(id: string, json: string): Promise<void> {
    if (!isCaptureId(id)) return Promise.reject(new Error(`not a capture id: ${id}`));
    const prev = this.#pending.get(id) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(() => this.#replace(id, json));
    this.#pending.set(id, next);
    const forget = () => {
      if (this.#pending.get(id) === next) this.#pending.delete(id);
    };
    next.then(forget, forget);
    return next;
  }

  async #replace(id: string, json: string): Promise<void> {
    const final = join(this.dir, captureFileName(id));
    const temp = join(this.dir, `.${captureFileName(id)}.${randomBytes(4).toString("hex")}.tmp`);
    if (!this.#made) {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      this.#made = true;
    }
    try {
      await this.#writer.writeNew(temp, json);
      await this.#writer.rename(temp, final);
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      throw err;
    }
  }

  /** The ids of the folder's capture files, newest first (ids start with their start time). */
  async ids(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return [];
    }
    const ids: string[] = [];
    for (const name of names) {
      const id = idOfFileName(name);
      if (id !== undefined) ids.push(id);
    }
    return ids.sort().reverse();
  }

  /** The file's text and size, when `id` is a capture id and the folder lists it as a regular file. */
  async read(id: string): Promise<{ json: string; size: number } | undefined> {
    const path = await this.#listed(id);
    if (path === undefined) return undefined;
    try {
      const json = await readFile(path, "utf8");
      return { json, size: Buffer.byteLength(json) };
    } catch {
      return undefined;
    }
  }

  async size(id: string): Promise<number | undefined> {
    const path = await this.#listed(id);
    if (path === undefined) return undefined;
    return (await lstat(path).catch(() => undefined))?.size;
  }

  /** Deletes the file; false when there is no such capture. Waits for a write in progress first. */
  async remove(id: string): Promise<boolean> {
    await this.#pending.get(id)?.catch(() => undefined);
    const path = await this.#listed(id);
    if (path === undefined) return false;
    try {
      await unlink(path);
      return true;
    } catch {
      return false;
    }
  }

  /** Settles when every write asked for so far has landed (or failed). */
  async flushed(): Promise<void> {
    await Promise.all([...this.#pending.values()].map((p) => p.catch(() => undefined)));
  }

  async #listed(id: string): Promise<string | undefined> {
    if (!isCaptureId(id)) return undefined;
    if (!(await this.ids()).includes(id)) return undefined;
    const path = join(this.dir, captureFileName(id));
    // lstat: a symlink planted in the folder is not a capture.
    const st = await lstat(path).catch(() => undefined);
    return st?.isFile() ? path : undefined;
  }
}
