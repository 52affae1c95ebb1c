// The cluster directory: what every node of a cluster knows about the others. One interface, three
// implementations, as LiveKit's local and Redis routers: LocalDirectory (one node, in memory), SupervisorDirectory
// (the nodes of one machine, the supervisor holding the state) and RedisDirectory (nodes on many machines). The
// server holds one Directory bound to its own node and never knows which it has.
//
// A Directory holds: nodes with their load (a heartbeat each second, gone within NODE_TTL_MS of dying), the room →
// origin map with an atomic claim (one publisher cluster-wide), each node's presence (the rooms it serves and their
// counts), and a bus of cluster-wide messages. It knows no HTTP and no rooms beyond their names: the server reads
// load and presence into it through a NodeReport and acts on what it hears.
import type { NodeId } from "./ids.ts";

export type { NodeId } from "./ids.ts";

/** What placement reads of a node. */
export interface NodeLoad {
  /** Share of one core the node's process uses (0..1, more when it uses more than one). */
  cpu: number;
  viewers: number;
  rooms: number;
  /** Packets per second admission control would still admit (admission off: Number.MAX_SAFE_INTEGER; JSON has no Infinity). */
  headroomPps: number;
}

export interface NodeInfo {
  id: NodeId;
  /** The node's direct URL: where a client or another node reaches this node in particular. */
  url: string;
  /** Milliseconds since the epoch. */
  startedAt: number;
  load: NodeLoad;
}

/** One room as one node serves it. */
export interface RoomPresence {
  room: string;
  /** This node is the room's origin (it holds the publish); otherwise it relays the room for its viewers. */
  origin: boolean;
  hasPublisher: boolean;
  tracks: number;
  /** The node's own viewers (relay sessions to other nodes are not viewers). */
  viewers: number;
  /** Video layers the room offers (simulcast and transcoded renditions). */
  layers: number;
  /** Bits per second the room's publisher sends (as its origin measures it), for the live views. */
  bitrate?: number;
  /** When the room opened, in milliseconds since the epoch. */
  liveSince?: number;
}

/** One room as the cluster sees it: the origin's counts, viewers summed over nodes. */
export interface ClusterRoom {
  name: string;
  /** The node holding the claim and reporting itself origin; null while no live node does. */
  origin: NodeId | null;
  hasPublisher: boolean;
  tracks: number;
  layers: number;
  /** The origin's figures, when it gives them. */
  bitrate?: number;
  liveSince?: number;
  /** Viewers summed over every node. */
  subscribers: number;
  /** Every node serving the room, by id. */
  nodes: { node: NodeId; viewers: number }[];
}

/** Cluster-wide messages. Commands are acted on by whichever node they concern; events are news. */
export type ClusterMessage =
  | { type: "close-room"; room: string; reason: string }
  | { type: "delete-recording"; name: string }
  | { type: "end-session"; sessionId: string; reason: string }
  | { type: "room-opened"; room: string; node: NodeId }
  | { type: "room-closed"; room: string; node: NodeId }
  /** A node left the cluster (stopped, died, or its heartbeat expired). */
  | { type: "node-left"; node: NodeId };

export type ClusterMessageType = ClusterMessage["type"];

export type DirectoryState = "connected" | "unavailable";

export type ClaimResult = { won: true } | { won: false; origin: NodeInfo };

/** What the directory reads of its own node at every heartbeat. */
export interface NodeReport {
  load(): NodeLoad;
  presence(): RoomPresence[];
}

export interface DirectoryEvents {
  /** A bus message, from any node including this one. */
  message: (msg: ClusterMessage, from: NodeId) => void;
  state: (state: DirectoryState) => void;
  /**
   * Rooms this node had claimed that another node holds now (this node's heartbeat stopped long enough, or Redis
   * was away and another node claimed them meanwhile): the server closes them here and tells their publishers.
   */
  lost: (rooms: string[]) => void;
}

export interface Directory {
  readonly kind: "local" | "supervisor" | "redis";
  /** This node's id; throws before start() resolved. */
  readonly nodeId: NodeId;
  readonly state: DirectoryState;
  /** Registers this node (another random id on a collision), starts the heartbeat, and resolves with the id. */
  start(): Promise<NodeId>;
  /** Live nodes, this one included, by id. */
  nodes(): Promise<NodeInfo[]>;
  node(id: NodeId): Promise<NodeInfo | undefined>;
  /** Takes the room for this node unless another live node holds it; atomic cluster-wide. Idempotent. */
  claim(room: string): Promise<ClaimResult>;
  /** Gives the room up, if this node holds it. */
  release(room: string): Promise<void>;
  /** The live node holding the room's claim. */
  origin(room: string): Promise<NodeInfo | undefined>;
  /** Every room any live node serves, by name. */
  rooms(): Promise<ClusterRoom[]>;
  /** Sends a message to every node, this one included. */
  publish(msg: ClusterMessage): Promise<void>;
  /** Sends this node's record, load and presence now instead of at the next heartbeat. */
  refresh(): Promise<void>;
  on<E extends keyof DirectoryEvents>(event: E, listener: DirectoryEvents[E]): () => void;
  /** Leaves the cluster: releases this node's claims and record. Idempotent. */
  close(): Promise<void>;
}

/** Heartbeat period. */
export const HEARTBEAT_MS = 1000;
/** A node, its claims and its presence vanish this long after its last heartbeat. */
export const NODE_TTL_MS = 3000;

/**
 * The directory cannot be reached (Redis down, the supervisor gone): what needs it is refused (503 with
 * Retry-After), and the node keeps serving its own rooms.
 */
export class DirectoryUnavailableError extends Error {
  constructor(message = "cluster directory unavailable") {
    super(message);
    this.name = "DirectoryUnavailableError";
  }
}

/** Thrown by a directory used before start() or after close(). */
export class DirectoryStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DirectoryStateError";
  }
}
