// The cluster's state in one process's memory, with the same rules Redis keeps by TTL: a node record, its claims
// and its presence live ttlMs past its last heartbeat. The supervisor holds one for the nodes of its machine
// (and drops a node the moment its process exits); LocalDirectory holds one for its single node, with no TTL.
// Synchronous and clock-driven, so its rules are tested without timers.
import type { HeartbeatRequest, HeartbeatResult, NodePresence, RegisterRequest } from "./backend.ts";
import type { ClaimResult, NodeInfo, RoomPresence } from "./directory.ts";
import type { NodeId } from "./ids.ts";

interface NodeEntry {
  instance: string;
  info: NodeInfo;
  presence: RoomPresence[];
  expiresAt: number;
}

interface ClaimEntry {
  owner: NodeId;
  expiresAt: number;
}

export interface MemoryStoreOptions {
  /** Infinity: records never expire (a single node, or nodes whose liveness is known otherwise). */
  ttlMs: number;
  now?: () => number;
}

/** A node that left, and the rooms it held. */
export interface DroppedNode {
  node: NodeId;
  rooms: string[];
}

export class MemoryStore {
  readonly #nodes = new Map<NodeId, NodeEntry>();
  readonly #claims = new Map<string, ClaimEntry>();
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(opts: MemoryStoreOptions) {
    this.#ttlMs = opts.ttlMs;
    this.#now = opts.now ?? Date.now;
  }

  #live(id: NodeId, now = this.#now()): NodeEntry | undefined {
    const entry = this.#nodes.get(id);
    return entry && entry.expiresAt > now ? entry : undefined;
  }

  #liveClaim(room: string, now = this.#now()): ClaimEntry | undefined {
    const claim = this.#claims.get(room);
    return claim && claim.expiresAt > now && this.#live(claim.owner, now) ? claim : undefined;
  }

  register(req: RegisterRequest): boolean {
    const now = this.#now();
    const cur = this.#live(req.id, now);
    if (cur && cur.instance !== req.instance) return false;
    this.#nodes.set(req.id, { instance: req.instance, info: req.info, presence: cur?.presence ?? [], expiresAt: now + this.#ttlMs });
    return true;
  }

  heartbeat(req: HeartbeatRequest): HeartbeatResult {
    if (!this.register(req)) return { registered: false, lost: [] };
    const now = this.#now();
    const entry = this.#nodes.get(req.id) as NodeEntry;
    entry.presence = req.presence;
    const lost: string[] = [];
    for (const room of req.claims) {
      const claim = this.#liveClaim(room, now);
      if (claim && claim.owner !== req.id) lost.push(room);
      else this.#claims.set(room, { owner: req.id, expiresAt: now + this.#ttlMs });
    }
    return { registered: true, lost };
  }

  claim(room: string, node: NodeId): ClaimResult {
    const now = this.#now();
    const claim = this.#liveClaim(room, now);
    if (claim && claim.owner !== node) return { won: false, origin: (this.#live(claim.owner, now) as NodeEntry).info };
    this.#claims.set(room, { owner: node, expiresAt: now + this.#ttlMs });
    return { won: true };
  }

  release(room: string, node: NodeId): void {
    if (this.#claims.get(room)?.owner === node) this.#claims.delete(room);
  }

  origin(room: string): NodeInfo | undefined {
    const claim = this.#liveClaim(room);
    return claim ? this.#live(claim.owner)?.info : undefined;
  }

  node(id: NodeId): NodeInfo | undefined {
    return this.#live(id)?.info;
  }

  nodes(): NodeInfo[] {
    const now = this.#now();
    return [...this.#nodes.values()].filter((e) => e.expiresAt > now).map((e) => e.info);
  }

  presence(): NodePresence[] {
    const now = this.#now();
    return [...this.#nodes].filter(([, e]) => e.expiresAt > now).map(([node, e]) => ({ node, rooms: e.presence }));
  }

  /** Removes a node with everything it held; instance given, only that instance's record. */
  drop(node: NodeId, instance?: string): DroppedNode | undefined {
    const entry = this.#nodes.get(node);
    if (!entry || (instance !== undefined && entry.instance !== instance)) return undefined;
    this.#nodes.delete(node);
    const rooms: string[] = [];
    for (const [room, claim] of this.#claims) {
      if (claim.owner !== node) continue;
      this.#claims.delete(room);
      rooms.push(room);
    }
    return { node, rooms };
  }

  /** Drops the nodes whose heartbeat expired, and claims left behind; what the sweeper reports as gone. */
  sweep(): DroppedNode[] {
    const now = this.#now();
    const gone: DroppedNode[] = [];
    for (const [id, entry] of this.#nodes) {
      if (entry.expiresAt > now) continue;
      const dropped = this.drop(id);
      if (dropped) gone.push(dropped);
    }
    for (const [room, claim] of this.#claims) if (claim.expiresAt <= now) this.#claims.delete(room);
    return gone;
  }
}
