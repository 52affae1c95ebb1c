// One publisher session's recording: a TrackRecorder per recordable track, all named with the session's start
// second. Closing it finalizes every file; the owner (Recordings) then remuxes them.
import type { Logger } from "../../log.ts";
import type { Metrics } from "../../metrics/metrics.ts";
import type { RecordProgress } from "./store.ts";
import { trackFileName } from "./names.ts";
import { recordExtension, TrackRecorder, type RecordableTrack, type TrackResult } from "./trackRecorder.ts";

export interface SessionRecorderOptions {
  dir: string;
  room: string;
  /** `{unixSeconds}` or `{unixSeconds}-{n}`: shared by the session's files. */
  stem: string;
  tracks: readonly RecordableTrack[];
  log: Logger;
  metrics: Metrics;
  onActive(name: string, active: boolean, progress?: () => RecordProgress): void;
}

export class SessionRecorder {
  readonly room: string;
  readonly stem: string;
  readonly #recorders: TrackRecorder[] = [];
  #closing: Promise<TrackResult[]> | undefined;

  constructor(opts: SessionRecorderOptions) {
    this.room = opts.room;
    this.stem = opts.stem;
    for (const track of opts.tracks) {
      const ext = recordExtension(track.codec.mimeType);
      if (!ext) {
        opts.log.warn({ codec: track.codec.mimeType, kind: track.kind, index: track.index }, "track not recorded: no file format for this codec");
        continue;
      }
      const name = trackFileName(opts.room, track.kind, track.index, opts.stem, ext);
      const rec = new TrackRecorder(track, { dir: opts.dir, name, log: opts.log, metrics: opts.metrics, onActive: opts.onActive });
      rec.start();
      this.#recorders.push(rec);
    }
  }

  get files(): string[] {
    return this.#recorders.map((r) => r.name);
  }

  /** Ends every track's file; resolves with what was written once all are final. Idempotent. */
  close(): Promise<TrackResult[]> {
    this.#closing ??= Promise.all(this.#recorders.map((r) => r.close()));
    return this.#closing;
  }
}
