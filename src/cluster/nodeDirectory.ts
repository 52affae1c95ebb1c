// A node's Directory over any backend: the node-side rules, written once. It registers the node under a random
// id (another one on a collision), sends its record, load, presence and claims every HEARTBEAT_MS, keeps the set
// of rooms it holds, and reports the ones another node took (after a stall, or while the backend was away and
// someone claimed them). While the backend is unreachable every call rejects at once with
// DirectoryUnavailableError; when it is back, the node registers again and re-claims its rooms in one heartbeat.
import { randomBytes } from "node:crypto";
import type { Logger } from "../log.ts";
import { aggregateRooms } from "./aggregate.ts";
import type { BackendSink, DirectoryBackend, HeartbeatRequest } from "./backend.ts";
import {
  DirectoryStateError,
  DirectoryUnavailableError,
  HEARTBEAT_MS,
  type ClaimResult,
  type ClusterMessage,
  type ClusterRoom,
  type Directory,
  type DirectoryEvents,
  type DirectoryState,
  type NodeInfo,
  type NodeReport,
} from "./directory.ts";
import { newNodeId, type NodeId } from "./ids.ts";
import { Listeners } from "./listeners.ts";

export interface NodeDirectoryOptions {
  /** This node's direct URL. */
  url: string;
  startedAt?: number;
  report: NodeReport;
  log: Logger;
  /** Tests force collisions with it. */
  newId?: () => NodeId;
  heartbeatMs?: number;
  /** How long start() waits for the backend before it rejects with DirectoryUnavailableError. */
  connectTimeoutMs?: number;
}

/** Ids tried before start() gives up: with 2^24 ids, more collisions in a row mean something else is wrong. */
const REGISTER_ATTEMPTS = 8;

export class NodeDirectory implements Directory {
  readonly kind: Directory["kind"];
  readonly #backend: DirectoryBackend;
  readonly #opts: NodeDirectoryOptions;
  readonly #startedAt: number;
  readonly #instance = randomBytes(12).toString("base64url");
  readonly #claims = new Set<string>();
  readonly #listeners: Listeners<DirectoryEvents>;
  #log: Logger;
  #id: NodeId | undefined;
  #state: DirectoryState = "unavailable";
  #timer: ReturnType<typeof setInterval> | undefined;
  #beating: Promise<void> | undefined;
  /** The other live nodes as of the last heartbeat: one missing from the next list is reported as node-left. */
  #known: Set<NodeId> | undefined;
  #closed = false;

  constructor(backend: DirectoryBackend, opts: NodeDirectoryOptions) {
    this.kind = backend.kind;
    this.#backend = backend;
    this.#opts = opts;
    this.#startedAt = opts.startedAt ?? Date.now();
    this.#log = opts.log.child({ directory: backend.kind });
    this.#listeners = new Listeners((err, event) => this.#log.error({ err, event }, "directory listener threw"));
  }

  get nodeId(): NodeId {
    if (this.#id === undefined) throw new DirectoryStateError("directory not started");
    return this.#id;
  }

  get state(): DirectoryState {
    return this.#state;
  }

  /** Rooms this node holds, as the directory knows them. */
  get claims(): ReadonlySet<string> {
    return this.#claims;
  }

  on<E extends keyof DirectoryEvents>(event: E, listener: DirectoryEvents[E]): () => void {
    return this.#listeners.on(event, listener);
  }

  async start(): Promise<NodeId> {
    if (this.#closed) throw new DirectoryStateError("directory closed");
    if (this.#id !== undefined) return this.#id;
    const sink: BackendSink = {
      state: (state) => this.#onBackendState(state),
      message: ({ from, msg }) => {
        if (this.#closed) return;
        // Heard once: a node-left from the bus is not reported again when the node list shows it gone.
        if (msg.type === "node-left") this.#known?.delete(msg.node);
        this.#listeners.emit("message", msg, from);
      },
    };
    await this.#backend.connect(sink, this.#opts.connectTimeoutMs ?? 5000);
    this.#state = this.#backend.state;
    const id = await this.#register();
    this.#timer = setInterval(() => void this.#heartbeat(), this.#opts.heartbeatMs ?? HEARTBEAT_MS);
    // The server's listeners keep the process alive; the heartbeat alone must not.
    this.#timer.unref?.();
    return id;
  }

  async #register(): Promise<NodeId> {
    for (let attempt = 1; attempt <= REGISTER_ATTEMPTS; attempt++) {
      const id = (this.#opts.newId ?? newNodeId)();
      if (await this.#backend.register({ id, instance: this.#instance, info: this.#info(id) })) {
        this.#id = id;
        this.#log = this.#opts.log.child({ directory: this.kind, node: id });
        this.#log.info({ attempt }, "node registered");
        return id;
      }
      this.#opts.log.debug({ id, attempt }, "node id taken, trying another");
    }
    throw new Error(`no free node id after ${REGISTER_ATTEMPTS} attempts`);
  }

  #info(id: NodeId): NodeInfo {
    return { id, url: this.#opts.url, startedAt: this.#startedAt, load: this.#opts.report.load() };
  }

  #onBackendState(state: DirectoryState): void {
    if (this.#closed || state === this.#state) return;
    this.#state = state;
    if (this.#id === undefined) return;
    this.#log[state === "connected" ? "info" : "warn"]({ state }, state === "connected" ? "directory reachable again" : "directory unreachable");
    this.#listeners.emit("state", state);
    // Register again and re-claim at once, not at the next tick: this is when lost rooms come to light.
    if (state === "connected") void this.#heartbeat();
  }

  refresh(): Promise<void> {
    this.#guard();
    return this.#heartbeat();
  }

  /** One heartbeat at a time; a tick that finds one running waits for it. */
  #heartbeat(): Promise<void> {
    if (this.#beating) return this.#beating;
    if (this.#closed || this.#id === undefined || this.#state !== "connected") return Promise.resolve();
    this.#beating = this.#beat().finally(() => (this.#beating = undefined));
    return this.#beating;
  }

  async #beat(): Promise<void> {
    const id = this.#id as NodeId;
    const req: HeartbeatRequest = {
      id,
      instance: this.#instance,
      info: this.#info(id),
      presence: this.#opts.report.presence(),
      claims: [...this.#claims],
    };
    let result;
    try {
      result = await this.#backend.heartbeat(req);
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, "heartbeat failed");
      return;
    }
    if (this.#closed) return;
    if (!result.registered) {
      // Our record expired (a stall, an outage) and another node took the id: everything held under it is gone.
      const lost = [...this.#claims];
      this.#claims.clear();
      this.#log.error({ id, lost }, "node id taken by another node while this one was away; registering anew");
      if (lost.length > 0) this.#listeners.emit("lost", lost);
      try {
        await this.#register();
      } catch (err) {
        this.#log.error({ err: (err as Error).message }, "registering anew failed");
      }
      return;
    }
    // A room released while the heartbeat was in flight is not lost, it is gone.
    const lost = result.lost.filter((room) => this.#claims.delete(room));
    if (lost.length > 0) {
      this.#log.warn({ rooms: lost }, "rooms claimed by another node meanwhile");
      this.#listeners.emit("lost", lost);
    }
    await this.#watchNodes(id);
  }

  /**
   * A node that dies without a word (a crash, a lost machine) says no node-left on the bus: its record expiring is
   * the news, and every node reports it to its own listeners as if it had been said.
   */
  async #watchNodes(self: NodeId): Promise<void> {
    let ids: Set<NodeId>;
    try {
      ids = new Set((await this.#backend.nodes()).map((n) => n.id));
    } catch {
      return;
    }
    if (this.#closed) return;
    ids.delete(self);
    const known = this.#known;
    this.#known = ids;
    for (const node of known ?? []) {
      if (ids.has(node)) continue;
      this.#log.info({ left: node }, "node gone from the directory");
      this.#listeners.emit("message", { type: "node-left", node }, node);
    }
  }

  #guard(): void {
    if (this.#closed) throw new DirectoryStateError("directory closed");
    if (this.#id === undefined) throw new DirectoryStateError("directory not started");
    if (this.#state !== "connected") throw new DirectoryUnavailableError();
  }

  /** Runs a backend call; one that failed because the backend went away meanwhile says so with the typed error. */
  async #call<T>(op: () => Promise<T>): Promise<T> {
    this.#guard();
    try {
      return await op();
    } catch (err) {
      if (!(err instanceof DirectoryUnavailableError) && this.#backend.state !== "connected") {
        throw new DirectoryUnavailableError(`cluster directory unavailable: ${(err as Error).message}`);
      }
      throw err;
    }
  }

  async nodes(): Promise<NodeInfo[]> {
    const nodes = await this.#call(() => this.#backend.nodes());
    const self = this.nodeId;
    // Our own load as of now rather than as of the last heartbeat.
    return nodes.map((n) => (n.id === self ? this.#info(self) : n)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async node(id: NodeId): Promise<NodeInfo | undefined> {
    return (await this.nodes()).find((n) => n.id === id);
  }

  async claim(room: string): Promise<ClaimResult> {
    const result = await this.#call(() => this.#backend.claim(room, this.nodeId));
    if (result.won) this.#claims.add(room);
    return result;
  }

  async release(room: string): Promise<void> {
    // Forgotten first: a heartbeat sent after this must not take the room again.
    this.#claims.delete(room);
    await this.#call(() => this.#backend.release(room, this.nodeId));
  }

  origin(room: string): Promise<NodeInfo | undefined> {
    return this.#call(() => this.#backend.origin(room));
  }

  async rooms(): Promise<ClusterRoom[]> {
    const presence = await this.#call(() => this.#backend.presence());
    const self = this.nodeId;
    return aggregateRooms([...presence.filter((p) => p.node !== self), { node: self, rooms: this.#opts.report.presence() }]);
  }

  publish(msg: ClusterMessage): Promise<void> {
    return this.#call(() => this.#backend.publish({ from: this.nodeId, msg }));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    const rooms = [...this.#claims];
    this.#claims.clear();
    if (this.#id !== undefined && this.#backend.state === "connected") {
      await this.#backend.leave(this.#id, this.#instance, rooms).catch((err: Error) => this.#log.warn({ err: err.message }, "leaving the directory failed"));
    }
    await this.#backend.close();
    this.#listeners.clear();
  }
}
