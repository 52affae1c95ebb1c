// A node process's directory when a supervisor started it: every operation is a request over the IPC channel to
// the supervisor, which holds the state (supervisorState.ts). The channel is up from the start; when it goes (the
// supervisor died) the directory is unavailable for good and every call is refused at once.
import type { BackendSink, DirectoryBackend, HeartbeatRequest, HeartbeatResult, NodePresence, RegisterRequest } from "./backend.ts";
import { DirectoryUnavailableError, type ClaimResult, type DirectoryState, type NodeInfo } from "./directory.ts";
import type { NodeId } from "./ids.ts";
import type { IpcPort, IpcRequest } from "./ipc.ts";
import { parseEnvelope, type BusEnvelope } from "./messages.ts";
import { NodeDirectory, type NodeDirectoryOptions } from "./nodeDirectory.ts";

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/** A supervisor answers from memory at once; one that has not in this long is stuck. */
const REQUEST_TIMEOUT_MS = 2000;

export class IpcBackend implements DirectoryBackend {
  readonly kind = "supervisor" as const;
  readonly #port: IpcPort;
  readonly #pending = new Map<number, Pending>();
  readonly #timeoutMs: number;
  #nextId = 1;
  #state: DirectoryState = "connected";
  #sink: BackendSink | undefined;

  constructor(port: IpcPort, opts: { requestTimeoutMs?: number } = {}) {
    this.#port = port;
    this.#timeoutMs = opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
    port.onMessage((msg) => this.#onMessage(msg));
    port.onClose(() => this.#down());
  }

  get state(): DirectoryState {
    return this.#state;
  }

  #down(): void {
    if (this.#state === "unavailable") return;
    this.#state = "unavailable";
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(new DirectoryUnavailableError("supervisor gone"));
      this.#pending.delete(id);
    }
    this.#sink?.state("unavailable");
  }

  #onMessage(raw: unknown): void {
    if (typeof raw !== "object" || raw === null) return;
    const msg = raw as Record<string, unknown>;
    if (msg["t"] === "bus") {
      const envelope = parseEnvelope(msg["envelope"]);
      if (envelope) this.#sink?.message(envelope);
      return;
    }
    if (msg["t"] !== "res" || typeof msg["id"] !== "number") return;
    const pending = this.#pending.get(msg["id"]);
    if (!pending) return;
    this.#pending.delete(msg["id"]);
    clearTimeout(pending.timer);
    if (msg["ok"] === true) pending.resolve(msg["value"]);
    else pending.reject(new Error(`supervisor: ${String(msg["error"])}`));
  }

  #request<T>(req: IpcRequest): Promise<T> {
    if (this.#state !== "connected") return Promise.reject(new DirectoryUnavailableError("supervisor gone"));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new DirectoryUnavailableError(`supervisor did not answer "${req.op}" within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      try {
        this.#port.send({ t: "req", id, ...req });
      } catch (err) {
        // The channel closed under us: its close event follows.
        clearTimeout(timer);
        this.#pending.delete(id);
        reject(new DirectoryUnavailableError(`supervisor unreachable: ${(err as Error).message}`));
      }
    });
  }

  async connect(sink: BackendSink): Promise<void> {
    this.#sink = sink;
    if (this.#state !== "connected") throw new DirectoryUnavailableError("supervisor gone");
  }

  register(req: RegisterRequest): Promise<boolean> {
    return this.#request({ op: "register", req });
  }

  heartbeat(req: HeartbeatRequest): Promise<HeartbeatResult> {
    return this.#request({ op: "heartbeat", req });
  }

  claim(room: string, node: NodeId): Promise<ClaimResult> {
    return this.#request({ op: "claim", room, node });
  }

  release(room: string, node: NodeId): Promise<void> {
    return this.#request({ op: "release", room, node });
  }

  async origin(room: string): Promise<NodeInfo | undefined> {
    return (await this.#request<NodeInfo | null>({ op: "origin", room })) ?? undefined;
  }

  nodes(): Promise<NodeInfo[]> {
    return this.#request({ op: "nodes" });
  }

  presence(): Promise<NodePresence[]> {
    return this.#request({ op: "presence" });
  }

  publish(envelope: BusEnvelope): Promise<void> {
    return this.#request({ op: "publish", envelope });
  }

  leave(node: NodeId, instance: string, rooms: string[]): Promise<void> {
    return this.#request({ op: "leave", node, instance, rooms });
  }

  async close(): Promise<void> {
    this.#sink = undefined;
  }
}

export interface SupervisorDirectoryOptions extends NodeDirectoryOptions {
  port: IpcPort;
}

export class SupervisorDirectory extends NodeDirectory {
  constructor(opts: SupervisorDirectoryOptions) {
    super(new IpcBackend(opts.port), opts);
  }
}
