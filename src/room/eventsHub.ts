// Live room data for the web app (GET /api/events): room opened/closed and viewer counts as they happen, fed by the
// registry's events, and one stats snapshot per room each second. Every client has its own filter (the rooms its
// token opens). The hub hears the registry and runs its timer only while it has clients, so an idle server pays
// nothing and a departed client leaves nothing behind.
//
// In a cluster the hub shows the cluster's rooms (docs/cluster.md, "One view"): rooms of other nodes come from the
// directory's presence, read each second and whenever a room opens or closes elsewhere; they are announced and
// withdrawn as they appear and go, with the figures their origin reports, and every room's viewers are summed
// over the nodes.
import type { HubEvent, RoomStats, TrackStats } from "../api.ts";
import type { RegistryEvent, RoomRegistry } from "./registry.ts";
import type { Room } from "./room.ts";

export interface HubClient {
  /** Whether this client may hear about the room. */
  visible(room: string): boolean;
  send(event: HubEvent): void;
  /** The hub is closing: end the client's stream. */
  end?(): void;
}

/** One room of the cluster as the directory shows it. */
export interface ClusterRoomInfo {
  name: string;
  hasPublisher: boolean;
  bitrate: number;
  /** Milliseconds since the epoch; undefined when its origin did not say. */
  liveSince: number | undefined;
  /** Viewers on the other nodes (this node's own are counted here, live). */
  otherViewers: number;
}

/** The cluster's rooms, for a hub of a node in a cluster. */
export interface ClusterRoomsView {
  rooms(): Promise<ClusterRoomInfo[]>;
  /** Hears that rooms changed elsewhere; returns the unsubscribe. */
  onChange(listener: () => void): () => void;
}

export interface EventsHubOptions {
  /** A node in a cluster: the other nodes' rooms and viewers too. */
  cluster?: ClusterRoomsView;
  /** How often each room's stats snapshot goes out. */
  intervalMs?: number;
  /** Told the number of clients whenever it changes (for a metric). */
  onClients?: (count: number) => void;
}

interface Previous {
  at: number;
  packets: number;
  lost: number;
  packetRate: number;
  loss: number;
}

export class EventsHub {
  readonly #registry: RoomRegistry;
  readonly #intervalMs: number;
  readonly #onClients: (count: number) => void;
  readonly #clients = new Set<HubClient>();
  /** Counters at the previous snapshot of each room, for per-interval rates. */
  readonly #previous = new Map<string, Previous>();
  #unsubscribe: (() => void) | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #cluster: ClusterRoomsView | undefined;
  /** The other nodes' rooms (none of them here) as last read, which every client has been told of. */
  #remote = new Map<string, ClusterRoomInfo>();
  /** Viewers of each room on the other nodes, as last read. */
  #otherViewers = new Map<string, number>();
  #unsubscribeCluster: (() => void) | undefined;
  #reading: Promise<void> | undefined;
  #readAgain = false;

  constructor(registry: RoomRegistry, opts: EventsHubOptions = {}) {
    this.#registry = registry;
    this.#intervalMs = opts.intervalMs ?? 1000;
    this.#onClients = opts.onClients ?? (() => undefined);
    this.#cluster = opts.cluster;
  }

  get clients(): number {
    return this.#clients.size;
  }

  /** Adds a client and sends it the rooms it can see; returns the unsubscribe (safe to call twice). */
  subscribe(client: HubClient): () => void {
    if (this.#clients.size === 0) this.#start();
    this.#clients.add(client);
    this.#onClients(this.#clients.size);
    const rooms = this.#registry
      .rooms()
      .filter((r) => !r.closed && client.visible(r.name))
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((r) => this.#stats(r, false));
    for (const r of this.#remote.values()) if (client.visible(r.name)) rooms.push(this.#remoteStats(r));
    rooms.sort((a, b) => a.room.localeCompare(b.room));
    this.#deliver(client, { type: "rooms", data: rooms });
    return () => {
      if (!this.#clients.delete(client)) return;
      this.#onClients(this.#clients.size);
      if (this.#clients.size === 0) this.#stop();
    };
  }

  /** Ends every client's stream (server shutdown). */
  close(): void {
    const clients = [...this.#clients];
    this.#clients.clear();
    for (const c of clients) c.end?.();
    this.#onClients(0);
    this.#stop();
  }

  #start(): void {
    this.#unsubscribe = this.#registry.subscribe((e) => this.#onRegistry(e));
    // A fresh baseline, so the first interval's rates are not measured from a stale snapshot.
    this.#previous.clear();
    this.#timer = setInterval(() => this.#tick(), this.#intervalMs);
    this.#timer.unref?.();
    if (this.#cluster) {
      this.#unsubscribeCluster = this.#cluster.onChange(() => void this.#readCluster());
      void this.#readCluster();
    }
  }

  #stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#previous.clear();
    this.#unsubscribeCluster?.();
    this.#unsubscribeCluster = undefined;
    this.#remote = new Map();
    this.#otherViewers = new Map();
  }

  /**
   * Reads the cluster's rooms and tells the clients what changed since the last read: rooms opened and closed
   * elsewhere, viewer counts. One read at a time; a change heard meanwhile reads again after it.
   */
  #readCluster(): Promise<void> {
    if (this.#reading) {
      this.#readAgain = true;
      return this.#reading;
    }
    this.#reading = this.#read().finally(() => {
      this.#reading = undefined;
      if (this.#readAgain && this.#timer !== undefined) {
        this.#readAgain = false;
        void this.#readCluster();
      }
    });
    return this.#reading;
  }

  async #read(): Promise<void> {
    let rooms: ClusterRoomInfo[];
    try {
      rooms = await (this.#cluster as ClusterRoomsView).rooms();
    } catch {
      // The directory is away: the rooms of other nodes stay as last read until it is back.
      return;
    }
    if (this.#timer === undefined) return;
    const remote = new Map<string, ClusterRoomInfo>();
    const others = new Map<string, number>();
    for (const r of rooms) {
      others.set(r.name, r.otherViewers);
      if (!this.#registry.get(r.name)) remote.set(r.name, r);
    }
    const before = this.#remote;
    const othersBefore = this.#otherViewers;
    this.#remote = remote;
    this.#otherViewers = others;
    for (const [name, r] of remote) {
      if (!before.has(name)) this.#broadcast(name, { type: "room-opened", data: this.#remoteStats(r) });
      else if (othersBefore.get(name) !== r.otherViewers) this.#broadcast(name, { type: "viewers", data: { room: name, viewers: r.otherViewers } });
    }
    for (const name of before.keys()) {
      if (!remote.has(name) && !this.#registry.get(name)) this.#broadcast(name, { type: "room-closed", data: { room: name } });
    }
    for (const room of this.#registry.rooms()) {
      if (room.closed || !others.has(room.name) || othersBefore.get(room.name) === others.get(room.name)) continue;
      this.#broadcast(room.name, { type: "viewers", data: { room: room.name, viewers: room.viewers.size + (others.get(room.name) ?? 0) } });
    }
  }

  /** Another node's room, with the figures its origin reports. */
  #remoteStats(r: ClusterRoomInfo): RoomStats {
    return {
      room: r.name,
      liveSince: new Date(r.liveSince ?? Date.now()).toISOString(),
      hasPublisher: r.hasPublisher,
      publisherState: r.hasPublisher ? "connected" : null,
      viewers: r.otherViewers,
      bitrate: r.bitrate,
      packets: 0,
      bytes: 0,
      packetsLost: 0,
      packetRate: 0,
      loss: 0,
      tracks: [],
    };
  }

  /** One stats snapshot per visible room to each client. */
  #tick(): void {
    if (this.#cluster) void this.#readCluster();
    const rooms = this.#registry.rooms().filter((r) => !r.closed);
    const snapshots = rooms.map((r) => this.#stats(r, true));
    for (const r of this.#remote.values()) snapshots.push(this.#remoteStats(r));
    if (snapshots.length === 0) return;
    for (const client of [...this.#clients]) {
      for (const s of snapshots) if (client.visible(s.room)) this.#deliver(client, { type: "stats", data: s });
    }
  }

  #onRegistry(e: RegistryEvent): void {
    switch (e.type) {
      case "room-opened":
        // The registry opens the room, then adds its publisher in the same turn: announce it once it has one.
        queueMicrotask(() => {
          const room = this.#registry.get(e.room);
          if (room && !room.closed) this.#broadcast(e.room, { type: "room-opened", data: this.#stats(room, false) });
        });
        break;
      case "room-closed":
        this.#previous.delete(e.room);
        this.#broadcast(e.room, { type: "room-closed", data: { room: e.room } });
        break;
      case "session-opened":
      case "session-closed": {
        if (e.kind !== "viewer") break;
        const room = this.#registry.get(e.room);
        // A closing room closes its viewers one by one; its room-closed event says it all.
        if (!room || room.closed) break;
        this.#broadcast(e.room, { type: "viewers", data: { room: e.room, viewers: room.viewers.size + (this.#otherViewers.get(e.room) ?? 0) } });
        break;
      }
    }
  }

  #broadcast(room: string, event: HubEvent): void {
    for (const client of [...this.#clients]) if (client.visible(room)) this.#deliver(client, event);
  }

  /** A client that throws (its stream is gone) is dropped rather than breaking the others. */
  #deliver(client: HubClient, event: HubEvent): void {
    try {
      client.send(event);
    } catch {
      if (this.#clients.delete(client)) {
        this.#onClients(this.#clients.size);
        if (this.#clients.size === 0) this.#stop();
      }
    }
  }

  /** The room's stats; `advance` starts a new interval for the rates (only the per-second tick does). */
  #stats(room: Room, advance: boolean): RoomStats {
    const d = room.details();
    const packets = d.tracks.reduce((s, t) => s + t.packets, 0);
    const bytes = d.tracks.reduce((s, t) => s + t.bytes, 0);
    const lost = d.tracks.reduce((s, t) => s + t.packetsLost, 0);
    const now = Date.now();
    const prev = this.#previous.get(room.name);
    let packetRate = prev?.packetRate ?? 0;
    let loss = prev?.loss ?? 0;
    if (advance) {
      if (prev) {
        const dPackets = Math.max(0, packets - prev.packets);
        const dLost = Math.max(0, lost - prev.lost);
        const elapsed = now - prev.at;
        packetRate = elapsed > 0 ? Math.round((dPackets * 1000) / elapsed) : 0;
        loss = dPackets + dLost > 0 ? dLost / (dPackets + dLost) : 0;
      }
      this.#previous.set(room.name, { at: now, packets, lost, packetRate, loss });
    }
    return {
      room: room.name,
      liveSince: d.liveSince,
      hasPublisher: d.hasPublisher,
      publisherState: d.publisher?.state ?? null,
      viewers: d.subscribers + (this.#otherViewers.get(room.name) ?? 0),
      bitrate: d.bitrate,
      packets,
      bytes,
      packetsLost: lost,
      packetRate,
      loss,
      tracks: d.tracks.map((t) => ({
        kind: t.kind,
        codec: t.codec,
        bitrate: t.bitrate,
        packets: t.packets,
        packetsLost: t.packetsLost,
        layers: t.layers.map((l) => ({ name: l.name, bitrate: l.bitrate })),
      })),
    };
  }
}
