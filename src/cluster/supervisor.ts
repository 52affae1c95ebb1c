// The supervisor process: with WORKERS=N it serves no HTTP itself; it starts N node processes from the same
// program (each with its index in ROOMCAST_WORKER, from which its config derives its direct port and its slice of
// the media ports; each node pins itself to a core), holds their directory (SupervisorState), and supervises each
// node as a state machine, as mediasoup's Worker and our transcoder are:
//
//   starting ──(registered with the directory)──▶ running
//      │                                            │
//      │ died before ready                          │ died
//      ▼                                            ▼
//   restarting ◀──────────────── (backoff: 0.5 s doubling to 15 s; reset by a run of 30 s)
//      │
//      └─ died before ready 5 times in a row: the supervisor gives up (stops every node, exits non-zero)
//
// and stopping → stopped from any state on SIGTERM/SIGINT, which is forwarded to every node. A node that has not
// exited with status 0 within the deadline is killed, and the supervisor exits non-zero.
import { randomBytes } from "node:crypto";
import type { Config, Env } from "../config.ts";
import type { Logger } from "../log.ts";
import { ownCommand, spawnWithIpc, type ExitStatus, type SpawnedProcess, type SpawnSpec } from "../platform/process.ts";
import type { NodeId } from "./ids.ts";
import { SupervisorState } from "./supervisorState.ts";

export type NodeSlotState = "starting" | "running" | "restarting" | "stopping" | "stopped";

export interface SupervisorClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realClock: SupervisorClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** First restart delay; doubled on each death in a row, up to BACKOFF_MAX_MS (as the transcoder's ffmpeg). */
export const BACKOFF_MIN_MS = 500;
export const BACKOFF_MAX_MS = 15_000;
/** A run this long resets the backoff. */
export const STABLE_MS = 30_000;
/** A node that died before it was ready this many times in a row will not start: something is wrong around it. */
export const MAX_FAILURES_BEFORE_READY = 5;
/** A node's own shutdown takes up to 4.5 s (main.ts); this leaves it room. */
export const STOP_DEADLINE_MS = 6000;

export interface SupervisorOptions {
  workers: number;
  /** The environment every node inherits (the supervisor's own). */
  env: Env;
  /** CLUSTER_SECRET; without one, the supervisor makes a random one for its nodes. */
  secret: string | undefined;
  /** How to start this program again (platform ownCommand()). */
  command: string[];
  spawn(spec: SpawnSpec): SpawnedProcess;
  state: SupervisorState;
  log: Logger;
  clock?: SupervisorClock;
  stopDeadlineMs?: number;
  /** Called once when nodes keep dying before ready and the supervisor stopped them all. */
  onGiveUp?(reason: string): void;
}

interface Slot {
  index: number;
  state: NodeSlotState;
  proc: SpawnedProcess | undefined;
  node: NodeId | undefined;
  startedAt: number;
  crashesInARow: number;
  failuresBeforeReady: number;
  restarts: number;
  timer: unknown;
}

export interface NodeSlotView {
  index: number;
  state: NodeSlotState;
  pid: number | undefined;
  node: NodeId | undefined;
  restarts: number;
}

export class Supervisor {
  /** The secret the nodes get: CLUSTER_SECRET, or one made for this run. */
  readonly secret: string;
  readonly #opts: SupervisorOptions;
  readonly #clock: SupervisorClock;
  readonly #slots: Slot[];
  #stopping: Promise<boolean> | undefined;
  #started = false;

  constructor(opts: SupervisorOptions) {
    if (!Number.isInteger(opts.workers) || opts.workers < 1) throw new RangeError(`workers must be 1 or more, got ${opts.workers}`);
    this.#opts = opts;
    this.#clock = opts.clock ?? realClock;
    this.secret = opts.secret ?? randomBytes(32).toString("base64url");
    this.#slots = Array.from({ length: opts.workers }, (_, index) => ({
      index,
      state: "stopped" as NodeSlotState,
      proc: undefined,
      node: undefined,
      startedAt: 0,
      crashesInARow: 0,
      failuresBeforeReady: 0,
      restarts: 0,
      timer: undefined,
    }));
  }

  get nodes(): NodeSlotView[] {
    return this.#slots.map((s) => ({ index: s.index, state: s.state, pid: s.proc?.pid, node: s.node, restarts: s.restarts }));
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#opts.log.info({ workers: this.#opts.workers, command: this.#opts.command }, "starting nodes");
    for (const slot of this.#slots) this.#spawn(slot);
  }

  #spawn(slot: Slot): void {
    if (this.#stopping) return;
    slot.timer = undefined;
    slot.node = undefined;
    slot.state = "starting";
    slot.startedAt = this.#clock.now();
    const env: Record<string, string | undefined> = {
      ...this.#opts.env,
      // "auto" resolved once, here: every node must agree on the count its port slice is cut from.
      WORKERS: String(this.#opts.workers),
      ROOMCAST_WORKER: String(slot.index),
      CLUSTER_SECRET: this.secret,
    };
    let proc: SpawnedProcess;
    try {
      proc = this.#opts.spawn({ cmd: this.#opts.command, env });
    } catch (err) {
      this.#opts.log.error({ index: slot.index, err: (err as Error).message }, "node could not be started");
      this.#afterExit(slot, { code: null, signal: null });
      return;
    }
    slot.proc = proc;
    this.#opts.log.info({ index: slot.index, pid: proc.pid }, "node started");
    this.#opts.state.attach(proc.port, `node ${slot.index}`, (id) => {
      if (slot.proc !== proc) return;
      slot.node = id;
      if (slot.state === "starting") slot.state = "running";
      slot.failuresBeforeReady = 0;
      this.#opts.log.info({ index: slot.index, pid: proc.pid, node: id }, "node ready");
    });
    void proc.exited.then((status) => {
      if (slot.proc !== proc) return;
      slot.proc = undefined;
      this.#afterExit(slot, status);
    });
  }

  #afterExit(slot: Slot, status: ExitStatus): void {
    const ranMs = this.#clock.now() - slot.startedAt;
    if (this.#stopping) {
      slot.state = "stopped";
      this.#opts.log.info({ index: slot.index, ...status }, "node stopped");
      return;
    }
    const wasReady = slot.state === "running";
    this.#opts.log.warn({ index: slot.index, node: slot.node, ...status, ranMs }, wasReady ? "node died" : "node died before it was ready");
    if (!wasReady && ++slot.failuresBeforeReady >= MAX_FAILURES_BEFORE_READY) {
      slot.state = "stopped";
      const reason = `node ${slot.index} died ${slot.failuresBeforeReady} times before it was ready`;
      this.#opts.log.error({ index: slot.index }, `giving up: ${reason}`);
      void this.stop("SIGTERM").then(() => this.#opts.onGiveUp?.(reason));
      return;
    }
    slot.crashesInARow = wasReady && ranMs >= STABLE_MS ? 0 : slot.crashesInARow + 1;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.max(0, slot.crashesInARow - 1));
    slot.restarts++;
    slot.state = "restarting";
    this.#opts.log.info({ index: slot.index, inMs: delay, restarts: slot.restarts }, "restarting node");
    slot.timer = this.#clock.setTimeout(() => this.#spawn(slot), delay);
  }

  /**
   * Forwards the signal to every node and waits for them; true when each exited with status 0 within the deadline.
   * Nodes still running at the deadline are killed. Idempotent: a second signal waits for the same stop.
   */
  stop(signal: NodeJS.Signals): Promise<boolean> {
    this.#stopping ??= this.#stop(signal);
    return this.#stopping;
  }

  async #stop(signal: NodeJS.Signals): Promise<boolean> {
    const { log } = this.#opts;
    log.info({ signal }, "stopping nodes");
    const running: { slot: Slot; proc: SpawnedProcess }[] = [];
    for (const slot of this.#slots) {
      if (slot.timer !== undefined) this.#clock.clearTimeout(slot.timer);
      slot.timer = undefined;
      if (slot.proc) {
        slot.state = "stopping";
        running.push({ slot, proc: slot.proc });
        try {
          slot.proc.kill(signal);
        } catch {
          // Already gone: its exit is on its way.
        }
      } else {
        slot.state = "stopped";
      }
    }
    let clean = true;
    let deadline: unknown;
    const late = new Promise<"late">((resolve) => (deadline = this.#clock.setTimeout(() => resolve("late"), this.#opts.stopDeadlineMs ?? STOP_DEADLINE_MS)));
    const exits = running.map(async ({ slot, proc }) => {
      const status = await Promise.race([proc.exited, late]);
      if (status === "late") {
        clean = false;
        log.error({ index: slot.index, pid: proc.pid }, "node did not stop in time; killing it");
        proc.kill("SIGKILL");
        await proc.exited;
      } else if (status.code !== 0) {
        clean = false;
        log.error({ index: slot.index, pid: proc.pid, ...status }, "node did not stop cleanly");
      }
    });
    await Promise.all(exits);
    this.#clock.clearTimeout(deadline);
    this.#opts.state.close();
    return clean;
  }
}

/**
 * The supervisor's whole run, for main.ts with WORKERS > 1: start the nodes, stop them on SIGTERM/SIGINT, exit 0
 * when they all stopped cleanly and 1 otherwise.
 */
export function runSupervisor(config: Config, env: Env, log: Logger, opts: { stopDeadlineMs?: number } = {}): Supervisor {
  const exit = (code: number) => {
    log.flush?.();
    process.exit(code);
  };
  const supervisor = new Supervisor({
    workers: config.cluster.workers,
    env,
    secret: config.cluster.secret,
    command: ownCommand(),
    spawn: spawnWithIpc,
    state: new SupervisorState({ log }),
    log,
    stopDeadlineMs: opts.stopDeadlineMs,
    onGiveUp: () => exit(1),
  });
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => void supervisor.stop(signal).then((clean) => exit(clean ? 0 : 1)));
  }
  supervisor.start();
  return supervisor;
}
