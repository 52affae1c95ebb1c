// Messages between the benchmark (bench/forward.ts) and its client worker (bench/lib/clientWorker.ts), one JSON
// object per line on the worker's stdin and stdout. The worker is its own process so it can be pinned to other
// cores than the server and so its CPU use is measured apart from the server's.

export type Command =
  | { id: number; t: "publish"; url: string; room: string; timeoutMs: number }
  | { id: number; t: "viewers"; url: string; room: string; count: number; concurrency: number; timeoutMs: number }
  | { id: number; t: "windowStart" }
  | { id: number; t: "windowEnd" }
  | { id: number; t: "collect" }
  | { id: number; t: "stop" };

export type CommandType = Command["t"];

/** CPU time of the worker process (all its threads, libdatachannel's included), in microseconds. */
export interface CpuSample {
  user: number;
  system: number;
}

/** What the publisher has sent so far: each counter is the next one to be sent on that stream. */
export interface SentMark {
  video: number;
  audio: number;
  cpu: CpuSample;
  /** performance.now() in the worker, ms. */
  at: number;
  /** The publisher's peer connection state: anything but "connected" means the room is gone. */
  publisherState: string;
}

export interface ViewerCounts {
  /** Distinct video / audio packets of the window that reached this viewer. */
  video: number;
  audio: number;
  /** Every RTP packet this viewer received since it connected (GOP replay and warm-up included). */
  total: number;
}

export interface Collected {
  viewers: ViewerCounts[];
  /** One-way latency histogram of the window's packets: [bin, count] for non-empty bins. */
  latencyBins: [number, number][];
  latencyBinMs: number;
  /** Samples above the last bin. */
  latencyOverflow: number;
  /** Worst lateness of the publisher's pacing against its schedule, ms (a busy client shows here first). */
  pacingLateMaxMs: number;
  /** Packets the publisher could not hand to libdatachannel (sendMessageBinary returned false or threw). */
  sendFailures: number;
}

export interface ViewersResult {
  connected: number;
  /** Attempts that failed (each replaced by another, up to 1.5 × the viewers asked for). */
  failed: number;
  /** The first few errors, for the report. */
  errors: string[];
  /** Connect time of each connected viewer, ms. */
  connectMs: number[];
}

export type Reply =
  | { id: number; t: "ok" }
  | { id: number; t: "published"; ms: number; timeOrigin: number }
  | { id: number; t: "viewers"; result: ViewersResult }
  | { id: number; t: "mark"; mark: SentMark }
  | { id: number; t: "collected"; collected: Collected }
  | { id: number; t: "error"; message: string };

/** Unsolicited lines: progress the benchmark may print. */
export interface Note {
  t: "note";
  message: string;
}

export type WorkerLine = Reply | Note;
