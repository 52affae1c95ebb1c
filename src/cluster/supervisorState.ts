// The supervisor's side of the directory: nodes, claims and presence of this machine's node processes in memory
// (a MemoryStore with Redis's TTL rules), requests answered over each node's IPC port, and the bus broadcast to
// every port. A node whose channel closes (its process exited, however) is dropped that moment with its claims
// and presence, and every node hears node-left and room-closed for the rooms it held; one that stops beating
// without exiting (stuck) is dropped the same way NODE_TTL_MS after its last heartbeat.
import type { Logger } from "../log.ts";
import type { HeartbeatRequest, RegisterRequest } from "./backend.ts";
import { HEARTBEAT_MS, NODE_TTL_MS } from "./directory.ts";
import { isNodeId, type NodeId } from "./ids.ts";
import type { IpcPort, NodeToSupervisor } from "./ipc.ts";
import { MemoryStore, type DroppedNode } from "./memoryStore.ts";
import { isRoomName, parseEnvelope, parseNodeInfo, parsePresenceList, type BusEnvelope } from "./messages.ts";

interface Attached {
  port: IpcPort;
  label: string;
  /** The node registered through this port, once it has. */
  node: { id: NodeId; instance: string } | undefined;
  onRegistered: ((id: NodeId) => void) | undefined;
}

export interface SupervisorStateOptions {
  log: Logger;
  ttlMs?: number;
  now?: () => number;
  /** Sweep period for stuck nodes; 0 = no timer (tests call sweep()). */
  sweepMs?: number;
}

function parseRegister(v: unknown): RegisterRequest | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const r = v as Record<string, unknown>;
  const info = parseNodeInfo(r["info"]);
  if (!isNodeId(r["id"]) || typeof r["instance"] !== "string" || !info || info.id !== r["id"]) return undefined;
  return { id: r["id"], instance: r["instance"], info };
}

function parseHeartbeat(v: unknown): HeartbeatRequest | undefined {
  const reg = parseRegister(v);
  if (!reg) return undefined;
  const r = v as Record<string, unknown>;
  const claims = r["claims"];
  if (!Array.isArray(claims) || !claims.every(isRoomName)) return undefined;
  return { ...reg, presence: parsePresenceList(r["presence"]), claims };
}

export class SupervisorState {
  readonly #store: MemoryStore;
  readonly #log: Logger;
  readonly #ports = new Set<Attached>();
  readonly #sweeper: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(opts: SupervisorStateOptions) {
    this.#log = opts.log;
    this.#store = new MemoryStore({ ttlMs: opts.ttlMs ?? NODE_TTL_MS, now: opts.now });
    const sweepMs = opts.sweepMs ?? HEARTBEAT_MS;
    if (sweepMs > 0) {
      this.#sweeper = setInterval(() => this.sweep(), sweepMs);
      this.#sweeper.unref?.();
    }
  }

  /** The live nodes as the supervisor knows them (for its logs and tests). */
  get store(): MemoryStore {
    return this.#store;
  }

  /** Serves one node process's channel until it closes; `onRegistered` hears the node's id once it registered. */
  attach(port: IpcPort, label: string, onRegistered?: (id: NodeId) => void): void {
    if (this.#closed) return;
    const a: Attached = { port, label, node: undefined, onRegistered };
    this.#ports.add(a);
    port.onMessage((msg) => this.#onRequest(a, msg));
    port.onClose(() => {
      if (!this.#ports.delete(a)) return;
      if (a.node) this.#dropped(this.#store.drop(a.node.id, a.node.instance), "channel closed");
    });
  }

  /** Drops the nodes whose heartbeat expired. */
  sweep(): void {
    for (const gone of this.#store.sweep()) this.#dropped(gone, "heartbeat expired");
  }

  #dropped(gone: DroppedNode | undefined, why: string): void {
    if (!gone) return;
    this.#log.info({ node: gone.node, rooms: gone.rooms, why }, "node left the cluster");
    for (const room of gone.rooms) this.broadcast({ from: gone.node, msg: { type: "room-closed", room, node: gone.node } });
    this.broadcast({ from: gone.node, msg: { type: "node-left", node: gone.node } });
  }

  broadcast(envelope: BusEnvelope): void {
    for (const a of this.#ports) this.#send(a, { t: "bus", envelope });
  }

  #send(a: Attached, msg: unknown): void {
    try {
      a.port.send(msg);
    } catch (err) {
      // The channel is closing; its close event drops the node.
      this.#log.debug({ node: a.node?.id, label: a.label, err: (err as Error).message }, "send to node failed");
    }
  }

  #onRequest(a: Attached, raw: unknown): void {
    if (typeof raw !== "object" || raw === null) return;
    const msg = raw as Partial<NodeToSupervisor> & Record<string, unknown>;
    if (msg.t !== "req" || typeof msg.id !== "number") return;
    let value: unknown;
    try {
      value = this.#answer(a, msg);
    } catch (err) {
      this.#log.warn({ label: a.label, op: msg.op, err: (err as Error).message }, "node request refused");
      this.#send(a, { t: "res", id: msg.id, ok: false, error: (err as Error).message });
      return;
    }
    // undefined does not survive JSON: null stands for "no value".
    this.#send(a, { t: "res", id: msg.id, ok: true, value: value ?? null });
  }

  /** A node acts only for the id it registered through its own channel. */
  #own(a: Attached, node: unknown): NodeId {
    if (!a.node || node !== a.node.id) throw new Error("not this channel's node");
    return a.node.id;
  }

  #answer(a: Attached, msg: Record<string, unknown>): unknown {
    const room = (): string => {
      if (!isRoomName(msg["room"])) throw new Error("bad room name");
      return msg["room"];
    };
    switch (msg["op"]) {
      case "register": {
        const req = parseRegister(msg["req"]);
        if (!req) throw new Error("bad register request");
        const ok = this.#store.register(req);
        if (ok) {
          // A node that registers anew under another id leaves its old one behind.
          if (a.node && a.node.id !== req.id) this.#dropped(this.#store.drop(a.node.id, a.node.instance), "registered anew");
          a.node = { id: req.id, instance: req.instance };
          a.onRegistered?.(req.id);
        }
        return ok;
      }
      case "heartbeat": {
        const req = parseHeartbeat(msg["req"]);
        if (!req) throw new Error("bad heartbeat");
        this.#own(a, req.id);
        return this.#store.heartbeat(req);
      }
      case "claim":
        return this.#store.claim(room(), this.#own(a, msg["node"]));
      case "release":
        return this.#store.release(room(), this.#own(a, msg["node"]));
      case "origin":
        return this.#store.origin(room());
      case "nodes":
        return this.#store.nodes();
      case "presence":
        return this.#store.presence();
      case "publish": {
        const envelope = parseEnvelope(msg["envelope"]);
        if (!envelope) throw new Error("bad bus message");
        this.#own(a, envelope.from);
        this.broadcast(envelope);
        return undefined;
      }
      case "leave": {
        const node = this.#own(a, msg["node"]);
        const gone = this.#store.drop(node, a.node?.instance);
        a.node = undefined;
        this.#dropped(gone, "left");
        return undefined;
      }
      default:
        throw new Error(`unknown request "${String(msg["op"])}"`);
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweeper);
    this.#ports.clear();
  }
}
