// The recorder service: checks RECORD_DIR at start, records each publisher session, remuxes finished sessions to
// mkv when ffmpeg is there, applies retention, and on shutdown finishes every file within the deadline.
import { mkdir, open, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Config } from "../../config.ts";
import type { Logger } from "../../log.ts";
import type { Metrics } from "../../metrics/metrics.ts";
import { resolveFfmpeg, type FfmpegBinary } from "../ffmpeg.ts";
import { sessionFileName } from "./names.ts";
import { remuxSession } from "./remux.ts";
import { SessionRecorder } from "./sessionRecorder.ts";
import { RecordStore, type RecordFs } from "./store.ts";
import type { RecordableTrack, TrackResult } from "./trackRecorder.ts";

export interface RecordingsDeps {
  config: Config;
  metrics: Metrics;
  log: Logger;
  /** Told of each file once it is final: every track's file, then the session's mkv (webhooks listen here). */
  onFinished?(file: FinishedRecording): void;
}

export interface FinishedRecording {
  room: string;
  file: string;
  size: number;
  kind: "audio" | "video" | "session";
  durationSec?: number;
  error?: string;
}

export interface RecordingsOptions {
  /** Skip the mkv remux even when ffmpeg is there. */
  remux?: boolean;
  remuxTimeoutMs?: number;
  retentionIntervalMs?: number;
  /** How often the recordings index reads the folder again, for files added or removed by hand. */
  indexRescanMs?: number;
  /** The folder's file system (tests count what a request costs through it). */
  fs?: RecordFs;
  now?: () => number;
}

/** Slow: the index knows every file the server writes; this is only for what an operator copies in or deletes. */
const INDEX_RESCAN_MS = 60_000;

/** What a room holds while its publisher is recorded. */
export interface SessionRecording {
  readonly files: string[];
  /** Finishes the files (and remuxes) in the background; Recordings.close() waits for it. */
  close(): void;
}

export class Recordings {
  readonly store: RecordStore;
  readonly #deps: RecordingsDeps;
  readonly #log: Logger;
  readonly #opts: RecordingsOptions;
  readonly #now: () => number;
  readonly #pending = new Set<Promise<void>>();
  readonly #stems = new Map<string, { unix: number; n: number }>();
  readonly #shutdown = new AbortController();
  #retention: ReturnType<typeof setInterval> | undefined;
  #rescan: ReturnType<typeof setInterval> | undefined;
  #ffmpeg: Promise<FfmpegBinary | undefined> | undefined;
  #closed = false;
  #warnedNoFfmpeg = false;

  constructor(deps: RecordingsDeps, opts: RecordingsOptions = {}) {
    this.#deps = deps;
    this.#log = deps.log.child({ component: "recorder" });
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.store = new RecordStore(deps.config.recordDir, opts.fs);
  }

  /**
   * Start-up: makes sure RECORD_DIR exists and takes a file, removes work files a crash left, starts retention.
   * Never throws: an unusable folder is logged, and each recording then fails on its own with a metric.
   */
  async start(): Promise<{ writable: boolean }> {
    const dir = this.store.dir;
    let writable = false;
    try {
      await mkdir(dir, { recursive: true });
      const probe = join(dir, `.roomcast-write-check-${process.pid}.tmp`);
      const fh = await open(probe, "w", 0o600);
      try {
        await fh.write("ok");
      } finally {
        await fh.close();
      }
      await unlink(probe);
      writable = true;
      this.#log.info({ dir }, "recording enabled: every published room is recorded");
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      this.#deps.metrics.recordErrors.labels(e.code ?? "EIO").inc();
      this.#log.error(
        { dir, code: e.code, err: e.message },
        `RECORD_DIR ${dir} is not writable (${e.code ?? e.message}): recordings will fail until it is fixed; streaming works as usual`,
      );
    }
    const leftovers = await this.store.removeTempFiles();
    if (leftovers.length > 0) this.#log.info({ files: leftovers }, "removed work files left by an earlier run");
    await this.store.load().catch((err: unknown) => this.#log.warn({ err: String(err) }, "reading the recordings folder failed"));
    this.#rescan = setInterval(() => {
      this.store.rescan().catch((err: unknown) => this.#log.warn({ err: String(err) }, "re-reading the recordings folder failed"));
    }, this.#opts.indexRescanMs ?? INDEX_RESCAN_MS);
    this.#rescan.unref?.();
    if (this.#opts.remux !== false) {
      void this.#resolveFfmpeg().then((bin) => {
        if (bin) this.#log.info({ ffmpeg: bin.path, source: bin.source, version: bin.version }, "ffmpeg found: sessions are remuxed to mkv");
      });
    }
    const { recordMaxAgeSec, recordMaxBytes } = this.#deps.config;
    if (recordMaxAgeSec !== undefined || recordMaxBytes !== undefined) {
      await this.sweep();
      this.#retention = setInterval(() => void this.sweep(), this.#opts.retentionIntervalMs ?? 60_000);
      this.#retention.unref?.();
    }
    return { writable };
  }

  /** Starts recording a publisher's tracks. Each track's file appears with its first key frame (or audio packet). */
  startSession(room: string, tracks: readonly RecordableTrack[], log: Logger): SessionRecording | undefined {
    if (this.#closed) return undefined;
    const stem = this.#stem(room);
    const session = new SessionRecorder({
      dir: this.store.dir,
      room,
      stem,
      tracks,
      log,
      metrics: this.#deps.metrics,
      onActive: (name, active, progress) => (active ? this.store.begin(name, progress) : this.store.end(name)),
    });
    return {
      files: session.files,
      close: () => {
        const done = this.#finish(session, log).catch((err: unknown) => log.error({ err: String(err) }, "finishing the recording failed"));
        this.#pending.add(done);
        void done.finally(() => this.#pending.delete(done));
      },
    };
  }

  /** Deletes what retention says must go; logs each file. */
  async sweep(): Promise<void> {
    const { recordMaxAgeSec, recordMaxBytes } = this.#deps.config;
    try {
      const deleted = await this.store.sweep({
        maxAgeMs: recordMaxAgeSec === undefined ? undefined : recordMaxAgeSec * 1000,
        maxBytes: recordMaxBytes,
        now: this.#now(),
      });
      for (const d of deleted) {
        this.#deps.metrics.recordFilesDeleted.labels(d.reason).inc();
        this.#log.info({ file: d.name, size: d.size, reason: d.reason }, "recording deleted by retention");
      }
    } catch (err) {
      this.#log.warn({ err: String(err) }, "retention sweep failed");
    }
  }

  /**
   * Shutdown: no new sessions; waits for every file to be final, and for remuxes while `budgetMs` lasts (those still
   * running then are stopped and their work files removed). Resolves true when nothing had to be stopped.
   */
  async close(budgetMs: number): Promise<boolean> {
    this.#closed = true;
    if (this.#retention) clearInterval(this.#retention);
    if (this.#rescan) clearInterval(this.#rescan);
    const timer = setTimeout(() => this.#shutdown.abort(), budgetMs);
    timer.unref?.();
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
    clearTimeout(timer);
    return !this.#shutdown.signal.aborted;
  }

  #stem(room: string): string {
    const unix = Math.floor(this.#now() / 1000);
    const last = this.#stems.get(room);
    const n = last && last.unix === unix ? last.n + 1 : 1;
    this.#stems.set(room, { unix, n });
    return n === 1 ? String(unix) : `${unix}-${n}`;
  }

  #resolveFfmpeg(): Promise<FfmpegBinary | undefined> {
    this.#ffmpeg ??= resolveFfmpeg({ ffmpegPath: this.#deps.config.ffmpegPath });
    return this.#ffmpeg;
  }

  async #finish(session: SessionRecorder, log: Logger): Promise<void> {
    const results = await session.close();
    for (const r of results) {
      // A track that never got its first key frame (or packet) has no file.
      if (r.bytes === 0) continue;
      this.#finished(log, { room: session.room, file: r.name, size: r.bytes, kind: r.kind, durationSec: r.durationSec, error: r.error });
    }
    if (this.#opts.remux !== false) await this.#remux(session, results, log);
    if (this.#deps.config.recordMaxAgeSec !== undefined || this.#deps.config.recordMaxBytes !== undefined) await this.sweep();
  }

  #finished(log: Logger, file: FinishedRecording): void {
    if (file.durationSec === undefined) delete file.durationSec;
    if (file.error === undefined) delete file.error;
    try {
      this.#deps.onFinished?.(file);
    } catch (err) {
      log.warn({ err, file: file.file }, "a recording.finished listener failed");
    }
  }

  async #remux(session: SessionRecorder, results: TrackResult[], log: Logger): Promise<void> {
    const usable = results.filter((r) => r.frames > 0 && r.error === undefined && r.timing !== undefined);
    const metrics = this.#deps.metrics;
    if (usable.length === 0) return;
    const bin = await this.#resolveFfmpeg();
    if (!bin) {
      metrics.recordRemux.labels("skipped").inc();
      if (!this.#warnedNoFfmpeg) {
        this.#warnedNoFfmpeg = true;
        this.#log.warn("ffmpeg not found (ffmpeg-static, FFMPEG_PATH, PATH): sessions are kept as per-track files, without an mkv");
      }
      return;
    }
    if (this.#shutdown.signal.aborted) {
      metrics.recordRemux.labels("skipped").inc();
      log.warn("mkv remux skipped: shutting down");
      return;
    }
    const output = sessionFileName(session.room, session.stem);
    const started = this.#now();
    const r = await remuxSession({
      ffmpeg: bin.path,
      dir: this.store.dir,
      tracks: usable,
      output,
      timeoutMs: this.#opts.remuxTimeoutMs ?? 300_000,
      signal: this.#shutdown.signal,
      log,
    });
    if (r.ok) {
      await this.store.refresh(output);
      metrics.recordRemux.labels("ok").inc();
      log.info({ file: output, alignment: r.alignment, offsets: r.offsets, ms: this.#now() - started }, "session remuxed to mkv");
      const size = await stat(join(this.store.dir, output)).then((st) => st.size, () => undefined);
      const durations = usable.map((u) => u.durationSec ?? 0);
      if (size !== undefined) this.#finished(log, { room: session.room, file: output, size, kind: "session", durationSec: Math.max(...durations) });
    } else {
      metrics.recordRemux.labels("failed").inc();
      log.warn({ file: output, reason: r.reason }, "mkv remux failed; the per-track files are kept");
    }
  }
}
