// The directory of a server on its own: one node, in this process's memory, always connected. What a single
// server has by default, so the server's code is the same with or without a cluster.
import type { BackendSink, DirectoryBackend, HeartbeatRequest, HeartbeatResult, NodePresence, RegisterRequest } from "./backend.ts";
import type { ClaimResult, NodeInfo } from "./directory.ts";
import type { NodeId } from "./ids.ts";
import { MemoryStore } from "./memoryStore.ts";
import type { BusEnvelope } from "./messages.ts";
import { NodeDirectory, type NodeDirectoryOptions } from "./nodeDirectory.ts";

/** A MemoryStore in this process: the bus loops back, asynchronously as it would over a wire. */
export class MemoryBackend implements DirectoryBackend {
  readonly kind = "local" as const;
  readonly state = "connected" as const;
  readonly #store: MemoryStore;
  #sink: BackendSink | undefined;

  constructor(store = new MemoryStore({ ttlMs: Infinity })) {
    this.#store = store;
  }

  async connect(sink: BackendSink): Promise<void> {
    this.#sink = sink;
  }

  async register(req: RegisterRequest): Promise<boolean> {
    return this.#store.register(req);
  }

  async heartbeat(req: HeartbeatRequest): Promise<HeartbeatResult> {
    return this.#store.heartbeat(req);
  }

  async claim(room: string, node: NodeId): Promise<ClaimResult> {
    return this.#store.claim(room, node);
  }

  async release(room: string, node: NodeId): Promise<void> {
    this.#store.release(room, node);
  }

  async origin(room: string): Promise<NodeInfo | undefined> {
    return this.#store.origin(room);
  }

  async nodes(): Promise<NodeInfo[]> {
    return this.#store.nodes();
  }

  async presence(): Promise<NodePresence[]> {
    return this.#store.presence();
  }

  async publish(envelope: BusEnvelope): Promise<void> {
    const sink = this.#sink;
    queueMicrotask(() => sink?.message(envelope));
  }

  async leave(node: NodeId, instance: string, _rooms: string[]): Promise<void> {
    this.#store.drop(node, instance);
  }

  async close(): Promise<void> {
    this.#sink = undefined;
  }
}

export class LocalDirectory extends NodeDirectory {
  constructor(opts: NodeDirectoryOptions) {
    super(new MemoryBackend(), opts);
  }
}
