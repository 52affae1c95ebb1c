// Writes a pure writer's ops to one file without ever blocking the caller: ops queue in memory and a single async
// loop appends them (one writev per batch), then applies the header patches. An I/O error (ENOSPC, EACCES, EIO)
// ends the file: it is cut back to the last whole write, closed, and reported once.
import { close, fsync, ftruncate, open, write, writev } from "node:fs";
import { promisify } from "node:util";
import type { WriteOp } from "../container/ops.ts";

const openAsync = promisify(open);
const closeAsync = promisify(close);
const fsyncAsync = promisify(fsync);
const ftruncateAsync = promisify(ftruncate);

function writevAsync(fd: number, buffers: Uint8Array[], position: number): Promise<number> {
  return new Promise((resolve, reject) => writev(fd, buffers, position, (err, n) => (err ? reject(err) : resolve(n))));
}

function writeAsync(fd: number, data: Uint8Array, position: number): Promise<number> {
  return new Promise((resolve, reject) =>
    write(fd, data, 0, data.length, position, (err, n) => (err ? reject(err) : resolve(n))),
  );
}

export type SinkState = "open" | "failed" | "closed";

export interface FileSinkOptions {
  /** Called once, on the first I/O error; the sink is failed from then on and drops further writes. */
  onError(err: NodeJS.ErrnoException): void;
  /** Called after each batch reaches the file, with the bytes appended. */
  onWritten?(bytes: number): void;
  /** Refuse a path that exists (default), so a recording never overwrites another file. */
  exclusive?: boolean;
}

/** Append positions are tracked by the sink, so the file is written with positional I/O only. */
export class FileSink {
  readonly path: string;
  #state: SinkState = "open";
  #fd: number | undefined;
  #opening: Promise<void>;
  #queue: WriteOp[] = [];
  #queuedBytes = 0;
  #draining: Promise<void> | undefined;
  /** End of the bytes known to be in the file. */
  #size = 0;
  #closing: Promise<void> | undefined;
  readonly #opts: FileSinkOptions;

  /** Starts opening `path` (which must not exist, unless `exclusive: false`) at once; writes queue until it is open. */
  constructor(path: string, opts: FileSinkOptions) {
    this.path = path;
    this.#opts = opts;
    this.#opening = openAsync(path, opts.exclusive === false ? "w" : "wx", 0o644).then(
      (fd) => {
        this.#fd = fd;
        if (this.#state !== "open") void closeAsync(fd).catch(() => undefined);
      },
      (err: NodeJS.ErrnoException) => this.#fail(err),
    );
  }

  get state(): SinkState {
    return this.#state;
  }

  /** Bytes accepted but not yet in the file. */
  get backlog(): number {
    return this.#queuedBytes;
  }

  /** Bytes in the file. */
  get size(): number {
    return this.#size;
  }

  write(ops: readonly WriteOp[]): void {
    if (this.#state !== "open" || this.#closing || ops.length === 0) return;
    for (const op of ops) {
      this.#queue.push(op);
      this.#queuedBytes += op.data.length;
    }
    this.#draining ??= this.#drain();
  }

  /** Writes what is queued, syncs and closes. Resolves (never rejects) once the file is final. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#opening;
      await this.#draining;
      const fd = this.#fd;
      this.#fd = undefined;
      if (fd === undefined) return;
      if (this.#state === "open") {
        // The file is durable when the session's end is logged; a power cut right after must not lose its tail.
        await fsyncAsync(fd).catch((err: NodeJS.ErrnoException) => this.#fail(err));
      }
      await closeAsync(fd).catch(() => undefined);
      if (this.#state === "open") this.#state = "closed";
    })();
    return this.#closing;
  }

  async #drain(): Promise<void> {
    await this.#opening;
    try {
      while (this.#queue.length > 0 && this.#state === "open") {
        const fd = this.#fd as number;
        const batch = this.#queue;
        this.#queue = [];
        let i = 0;
        while (i < batch.length && this.#state === "open") {
          const appends: Uint8Array[] = [];
          while (i < batch.length && (batch[i] as WriteOp).type === "append") appends.push((batch[i++] as WriteOp).data);
          if (appends.length > 0) await this.#append(fd, appends);
          // Consecutive patches of the same bytes (IVF's length after each frame): only the last one matters.
          let patch: WriteOp | undefined;
          while (i < batch.length && (batch[i] as WriteOp).type === "patch") {
            const next = batch[i++] as Extract<WriteOp, { type: "patch" }>;
            if (patch && patch.type === "patch") {
              if (patch.offset !== next.offset || patch.data.length !== next.data.length) await this.#patch(fd, patch);
              else this.#queuedBytes -= patch.data.length;
            }
            patch = next;
          }
          if (patch && patch.type === "patch") await this.#patch(fd, patch);
        }
      }
    } catch (err) {
      await this.#fail(err as NodeJS.ErrnoException);
    } finally {
      this.#draining = undefined;
    }
  }

  async #append(fd: number, buffers: Uint8Array[]): Promise<void> {
    let total = 0;
    for (const b of buffers) total += b.length;
    let done = 0;
    let pending = buffers;
    while (done < total) {
      // Stay under IOV_MAX (1024 on Linux); a longer list is written over several calls.
      const n = await writevAsync(fd, pending.length > 256 ? pending.slice(0, 256) : pending, this.#size + done);
      if (n <= 0) throw Object.assign(new Error("write made no progress"), { code: "EIO" });
      done += n;
      pending = skipBytes(pending, n);
    }
    this.#size += total;
    this.#queuedBytes -= total;
    this.#opts.onWritten?.(total);
  }

  async #patch(fd: number, op: Extract<WriteOp, { type: "patch" }>): Promise<void> {
    if (op.offset + op.data.length <= this.#size) await writeAsync(fd, op.data, op.offset);
    this.#queuedBytes -= op.data.length;
  }

  async #fail(err: NodeJS.ErrnoException): Promise<void> {
    if (this.#state !== "open") return;
    this.#state = "failed";
    this.#queue = [];
    this.#queuedBytes = 0;
    const fd = this.#fd;
    if (fd !== undefined) {
      // A short write (disk full) may have left part of a frame: cut back to the last whole one.
      await ftruncateAsync(fd, this.#size).catch(() => undefined);
    }
    this.#opts.onError(err);
  }
}

/** The buffers that remain after the first `n` bytes were written. */
function skipBytes(buffers: Uint8Array[], n: number): Uint8Array[] {
  let left = n;
  let k = 0;
  while (k < buffers.length && left >= (buffers[k] as Uint8Array).length) left -= (buffers[k++] as Uint8Array).length;
  const rest = buffers.slice(k);
  if (left > 0 && rest.length > 0) rest[0] = (rest[0] as Uint8Array).subarray(left);
  return rest;
}
