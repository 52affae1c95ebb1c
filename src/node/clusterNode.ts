// This server as a node of its cluster (docs/cluster.md): the bridge between its rooms and the cluster directory.
// It tells the directory what this node serves (load and presence at each heartbeat, claims on publish, releases
// when rooms close), acts on what the directory says (a room closed by an admin anywhere, a room lost while the
// directory was away, an origin gone), and answers the HTTP layer's routing questions: where a publish belongs,
// which node holds a room or a session, which node has room for a viewer. It decides; the HTTP layer answers.
//
// A server on its own has a LocalDirectory and the same code paths: every claim is won, no other node exists.
import { randomBytes } from "node:crypto";
import { ClusterTokens, type RoomGrant } from "../auth/clusterToken.ts";
import {
  DirectoryStateError,
  type ClusterMessage,
  type ClusterRoom,
  type Directory,
  type NodeInfo,
  type NodeLoad,
  type NodeReport,
  type RoomPresence,
} from "../cluster/directory.ts";
import { sessionNode, type NodeId } from "../cluster/ids.ts";
import { HeadroomSelector, type NodeSelector } from "../cluster/selector.ts";
import type { Logger } from "../log.ts";
import type { LoadMonitor } from "../metrics/load.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { RegistryEvent, RoomRegistry } from "../room/registry.ts";
import type { OriginRef } from "../room/relay.ts";
import type { Room } from "../room/room.ts";
import { FORWARDED_HEADER, requestNode } from "./forward.ts";

/** How the node stands in its cluster, for /healthz's X-Roomcast-Cluster header. */
export type ClusterStatus = "joined" | "standalone" | "detached";

/** Where a WHIP publish of a room belongs. */
export type PublishRoute = { here: true } | { here: false; node: NodeInfo; reason: "origin" | "capacity" };

export type RecordDeleteResult = "deleted" | "in_progress" | "not_found";

export interface ClusterNodeOptions {
  registry: RoomRegistry;
  load: LoadMonitor;
  metrics: Metrics;
  log: Logger;
  /** CLUSTER_SECRET; a node on its own makes a random one (no other node has to know it). */
  secret: string | undefined;
  /** Builds the directory once the node's direct URL is known (the listeners are bound). */
  directory(url: string, report: NodeReport): Directory;
  selector?: NodeSelector;
  /** Presence changes (a room opened, a viewer joined) reach the directory at most this long after. */
  refreshDelayMs?: number;
}

const REFRESH_DELAY_MS = 100;

type ViewListener = () => void;

export class ClusterNode {
  readonly tokens: ClusterTokens;
  readonly #opts: ClusterNodeOptions;
  readonly #selector: NodeSelector;
  readonly #log: Logger;
  #directory: Directory | undefined;
  /** Rooms this node holds the claim of: its own rooms, as opposed to relays of other nodes' rooms. */
  readonly #origins = new Set<string>();
  /** The origin each relay room here was pulled from, to close it when that node leaves. */
  readonly #relayOrigins = new Map<string, NodeId>();
  readonly #viewListeners = new Set<ViewListener>();
  readonly #unsubscribe: (() => void)[] = [];
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(opts: ClusterNodeOptions) {
    this.#opts = opts;
    this.#selector = opts.selector ?? new HeadroomSelector();
    this.#log = opts.log;
    this.tokens = new ClusterTokens(opts.secret ?? randomBytes(32).toString("base64url"));
  }

  /** Joins the directory under the node's direct URL; rejects (DirectoryUnavailableError) when it cannot. */
  async start(url: string): Promise<NodeId> {
    if (this.#directory) return this.#directory.nodeId;
    const directory = this.#opts.directory(url, { load: () => this.#load(), presence: () => this.#presence() });
    this.#directory = directory;
    this.#unsubscribe.push(
      directory.on("message", (msg, from) => this.#onMessage(msg, from)),
      directory.on("lost", (rooms) => this.#onLost(rooms)),
      directory.on("state", (state) => {
        this.#opts.metrics.clusterConnected.set(state === "connected" ? 1 : 0);
        this.#changed();
      }),
      this.#opts.registry.subscribe((e) => this.#onRegistry(e)),
    );
    const id = await directory.start();
    this.#opts.metrics.clusterConnected.set(1);
    // Each node's /metrics describes that node: every series says which, once there are several.
    if (directory.kind !== "local") this.#opts.metrics.registry.setDefaultLabels({ node: id });
    this.#log.info({ node: id, url, directory: directory.kind }, `joined the cluster as node ${id}`);
    return id;
  }

  get #dir(): Directory {
    if (!this.#directory) throw new DirectoryStateError("directory not started");
    return this.#directory;
  }

  /** This node's id; throws before start(). */
  get id(): NodeId {
    return this.#dir.nodeId;
  }

  /** The id to name on answers (X-Roomcast-Node): in a cluster, once joined; undefined for a server on its own. */
  get shownId(): NodeId | undefined {
    const dir = this.#directory;
    if (!dir || dir.kind === "local") return undefined;
    try {
      return dir.nodeId;
    } catch {
      return undefined;
    }
  }

  /** A server on its own (no WORKERS, no REDIS_URL): the answers keep their single-server shapes. */
  get standalone(): boolean {
    return this.#directory?.kind === "local";
  }

  get status(): ClusterStatus {
    if (this.standalone) return "standalone";
    return this.#directory?.state === "connected" ? "joined" : "detached";
  }

  isOrigin(room: string): boolean {
    return this.#origins.has(room);
  }

  /** A fresh token for a request to another node. */
  token(): Promise<string> {
    return this.tokens.sign(this.id);
  }

  /** A grant for a client this node redirects to another (auth/clusterToken.ts, RoomGrant). */
  grant(grant: RoomGrant): Promise<string> {
    return this.tokens.signGrant(this.id, grant);
  }

  // ---- routing ------------------------------------------------------------------------------------------------

  /**
   * Where a publish of `room` belongs: here when this node holds the room or wins its claim (the registry then
   * answers as on one server: 409, or a stale publisher replaced); the origin when another live node holds it; the
   * node with the most headroom when this one has none left for a new room.
   */
  async routePublish(room: string): Promise<PublishRoute> {
    const dir = this.#dir;
    if (this.#origins.has(room)) return { here: true };
    if (this.#opts.load.headroomPps() <= 0) {
      const claimed = await dir.origin(room);
      if (claimed && claimed.id !== dir.nodeId) return { here: false, node: claimed, reason: "origin" };
      const other = this.#selector.select(await dir.nodes(), { pps: 1, exclude: [dir.nodeId] });
      if (other) return { here: false, node: other, reason: "capacity" };
    }
    const claim = await dir.claim(room);
    if (claim.won) {
      this.#origins.add(room);
      return { here: true };
    }
    return { here: false, node: claim.origin, reason: "origin" };
  }

  /** A publish routed here failed before its room opened: the claim goes back, for another node to take. */
  async abandon(room: string): Promise<void> {
    if (this.#opts.registry.get(room) || !this.#origins.delete(room)) return;
    await this.#dir.release(room).catch((err: Error) => this.#log.warn({ room, err: err.message }, "releasing an abandoned claim failed"));
  }

  /** The room's origin when it is another live node, for a relay of it here; undefined when no node holds it. */
  async originOf(room: string): Promise<OriginRef | undefined> {
    const dir = this.#dir;
    const node = await dir.origin(room);
    if (!node || node.id === dir.nodeId) return undefined;
    this.#relayOrigins.set(room, node.id);
    return { node: node.id, url: node.url, token: () => this.token() };
  }

  /** The other node with the most headroom that can take a viewer of `pps` packets a second. */
  async placeViewer(pps: number): Promise<NodeInfo | undefined> {
    const dir = this.#dir;
    // A room not sending yet costs nothing per viewer, but a node with no headroom left takes no one.
    return this.#selector.select(await dir.nodes(), { pps: Math.max(1, pps), exclude: [dir.nodeId] });
  }

  /** The live node a session id belongs to when it is another one; undefined when here or on no live node. */
  async sessionOwner(sessionId: string): Promise<NodeInfo | undefined> {
    const node = sessionNode(sessionId);
    const dir = this.#dir;
    if (node === undefined || node === dir.nodeId) return undefined;
    return dir.node(node);
  }

  /** The live node by id. */
  node(id: NodeId): Promise<NodeInfo | undefined> {
    return this.#dir.node(id);
  }

  // ---- the one view -------------------------------------------------------------------------------------------

  /** Every room served anywhere (with an origin), viewers summed over nodes. */
  async rooms(): Promise<ClusterRoom[]> {
    return (await this.#dir.rooms()).filter((r) => r.origin !== null);
  }

  async room(name: string): Promise<ClusterRoom | undefined> {
    return (await this.rooms()).find((r) => r.name === name);
  }

  /** Hears that the cluster's rooms changed (a room opened or closed elsewhere, a node left); returns the unsubscribe. */
  onViewChange(listener: ViewListener): () => void {
    this.#viewListeners.add(listener);
    return () => this.#viewListeners.delete(listener);
  }

  // ---- cluster-wide commands ----------------------------------------------------------------------------------

  /**
   * Closes the room wherever it is: here at once, and everywhere else through the bus. False when no node has it.
   * The directory unavailable rejects, unless the room was here (closed, and the others hear when it is back).
   */
  async closeRoom(name: string, reason: string): Promise<boolean> {
    const here = this.#opts.registry.closeRoom(name, reason);
    const dir = this.#dir;
    let elsewhere: boolean;
    try {
      elsewhere = (await dir.origin(name)) !== undefined || (await dir.rooms()).some((r) => r.name === name);
      if (elsewhere || here) await dir.publish({ type: "close-room", room: name, reason });
    } catch (err) {
      if (here) return true;
      throw err;
    }
    return here || elsewhere;
  }

  /**
   * Asks every other node to delete a recording this node does not have (nodes on other machines keep their own
   * RECORD_DIR). A bus message cannot answer "not there" or "still recording"; the nodes' own DELETE can.
   */
  async deleteRecordingElsewhere(name: string): Promise<RecordDeleteResult> {
    const dir = this.#dir;
    const others = (await dir.nodes()).filter((n) => n.id !== dir.nodeId);
    if (others.length === 0) return "not_found";
    const token = await this.token();
    const statuses = await Promise.all(
      others.map((n) =>
        requestNode(n.url, { method: "DELETE", path: `/api/records/${encodeURIComponent(name)}`, token })
          .then(async (res) => {
            await res.body?.cancel();
            return res.status;
          })
          .catch((err: Error) => {
            this.#log.warn({ node: n.id, err: err.message }, "a node did not answer a recording delete");
            return 0;
          }),
      ),
    );
    if (statuses.includes(200)) return "deleted";
    if (statuses.includes(409)) return "in_progress";
    return "not_found";
  }

  // ---- what the directory reads and says ----------------------------------------------------------------------

  #load(): NodeLoad {
    const { registry, load } = this.#opts;
    let viewers = 0;
    const rooms = registry.rooms();
    for (const r of rooms) viewers += r.viewers.size;
    return { cpu: load.current?.cpu ?? 0, viewers, rooms: rooms.length, headroomPps: load.headroomPps() };
  }

  #presence(): RoomPresence[] {
    const out: RoomPresence[] = [];
    for (const room of this.#opts.registry.rooms()) if (!room.closed) out.push(presenceOf(room, this.#origins.has(room.name)));
    return out;
  }

  #onRegistry(e: RegistryEvent): void {
    if (e.type === "room-closed") {
      this.#relayOrigins.delete(e.room);
      if (this.#origins.delete(e.room) && !this.#closed) {
        const dir = this.#dir;
        // Edges hear it on the bus at once and close their relays, rather than at the origin's next heartbeat.
        void dir
          .release(e.room)
          .then(() => dir.publish({ type: "room-closed", room: e.room, node: dir.nodeId }))
          .catch((err: Error) => this.#log.debug({ room: e.room, err: err.message }, "room closed while the directory was unreachable"));
      }
    } else if (e.type === "room-opened" && this.#origins.has(e.room) && !this.#closed) {
      const dir = this.#dir;
      void dir.publish({ type: "room-opened", room: e.room, node: dir.nodeId }).catch(() => undefined);
    }
    this.#scheduleRefresh();
  }

  /** Presence changes reach the other nodes before the next heartbeat, a burst of them in one write. */
  #scheduleRefresh(): void {
    if (this.#refreshTimer || this.#closed || this.standalone) return;
    this.#refreshTimer = setTimeout(() => {
      this.#refreshTimer = undefined;
      if (this.#closed || this.#directory?.state !== "connected") return;
      void this.#directory.refresh().catch(() => undefined);
    }, this.#opts.refreshDelayMs ?? REFRESH_DELAY_MS);
    this.#refreshTimer.unref?.();
  }

  #onMessage(msg: ClusterMessage, from: NodeId): void {
    const { registry } = this.#opts;
    const self = this.#directory?.nodeId;
    switch (msg.type) {
      case "close-room":
        if (registry.closeRoom(msg.room, msg.reason)) this.#log.info({ room: msg.room, from }, "room closed by a cluster command");
        break;
      case "end-session":
        registry.endSession(msg.sessionId, msg.reason);
        break;
      case "room-closed":
        // Its origin closed it: a relay of it here has nothing more to pull.
        if (msg.node !== self && !this.#origins.has(msg.room)) registry.closeRoom(msg.room, "room closed at its origin");
        break;
      case "node-left":
        for (const [room, origin] of [...this.#relayOrigins]) {
          if (origin === msg.node && !this.#origins.has(room)) registry.closeRoom(room, "the room's origin node left the cluster");
        }
        break;
      case "room-opened":
      case "delete-recording":
        break;
    }
    this.#changed();
  }

  /** Another node holds these rooms now: this node's copies end, their clients told. */
  #onLost(rooms: string[]): void {
    for (const room of rooms) {
      this.#origins.delete(room);
      if (this.#opts.registry.closeRoom(room, "room taken over by another node while the cluster directory was unreachable")) {
        this.#log.warn({ room }, "room lost to another node; closed here");
      }
    }
    this.#changed();
  }

  #changed(): void {
    for (const l of [...this.#viewListeners]) {
      try {
        l();
      } catch (err) {
        this.#log.warn({ err }, "cluster view listener failed");
      }
    }
  }

  /** Leaves the directory: its claims released, its record gone. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#refreshTimer);
    for (const u of this.#unsubscribe.splice(0)) u();
    this.#viewListeners.clear();
    await this.#directory?.close();
  }
}

/** One room as this node serves it, for the directory's presence. */
export function presenceOf(room: Room, origin: boolean): RoomPresence {
  const d = room.summary();
  let layers = 0;
  let bitrate = 0;
  for (const t of room.publisher?.tracks ?? []) {
    if (t.kind === "video") layers += t.layers.length;
    bitrate += t.bitrate;
  }
  return { room: room.name, origin, hasPublisher: d.hasPublisher, tracks: d.tracks, viewers: d.subscribers, layers, bitrate, liveSince: room.createdAt.getTime() };
}

export { FORWARDED_HEADER };
