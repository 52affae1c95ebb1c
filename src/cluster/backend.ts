// The port every directory's node side stands on: a few primitive operations on the cluster's shared state. The
// node-side logic (heartbeat, claims kept, rooms lost, id collisions, events) lives once, in NodeDirectory; a
// backend only moves these operations to where the state is: this process's memory, the supervisor over IPC, or
// Redis.
import type { ClaimResult, DirectoryState, NodeInfo, RoomPresence } from "./directory.ts";
import type { NodeId } from "./ids.ts";
import type { BusEnvelope } from "./messages.ts";

export interface RegisterRequest {
  id: NodeId;
  /** Random per NodeDirectory: tells this node's own record (to refresh) from another's that took its id. */
  instance: string;
  info: NodeInfo;
}

export interface HeartbeatRequest extends RegisterRequest {
  presence: RoomPresence[];
  /** Rooms this node holds: each claim is refreshed, taken again if it expired, or reported lost. */
  claims: string[];
}

export interface HeartbeatResult {
  /** False when another node's instance holds this id now: this node must register under a new one. */
  registered: boolean;
  /** Of the claims sent, those another live node holds. */
  lost: string[];
}

export interface NodePresence {
  node: NodeId;
  rooms: RoomPresence[];
}

/** What a backend tells its NodeDirectory. */
export interface BackendSink {
  state(state: DirectoryState): void;
  message(envelope: BusEnvelope): void;
}

export interface DirectoryBackend {
  readonly kind: "local" | "supervisor" | "redis";
  readonly state: DirectoryState;
  /** Starts reaching the state; resolves once it is reachable, rejects (DirectoryUnavailableError) after timeoutMs. */
  connect(sink: BackendSink, timeoutMs: number): Promise<void>;
  /** False when the id belongs to another live node. */
  register(req: RegisterRequest): Promise<boolean>;
  heartbeat(req: HeartbeatRequest): Promise<HeartbeatResult>;
  claim(room: string, node: NodeId): Promise<ClaimResult>;
  release(room: string, node: NodeId): Promise<void>;
  origin(room: string): Promise<NodeInfo | undefined>;
  nodes(): Promise<NodeInfo[]>;
  presence(): Promise<NodePresence[]>;
  publish(envelope: BusEnvelope): Promise<void>;
  /** Removes the node's record and presence (its instance only) and the claims it names, if still its own. */
  leave(node: NodeId, instance: string, rooms: string[]): Promise<void>;
  /** Stops reaching the state; idempotent. */
  close(): Promise<void>;
}
