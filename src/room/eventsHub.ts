// Live room data for the web app (GET /api/events): room opened/closed and viewer counts as they happen, fed by the
// registry's events, and one stats snapshot per room each second. Every client has its own filter (the rooms its
// token opens). The hub hears the registry and runs its timer only while it has clients, so an idle server pays
// nothing and a departed client leaves nothing behind.
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

export interface EventsHubOptions {
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

  constructor(registry: RoomRegistry, opts: EventsHubOptions = {}) {
    this.#registry = registry;
    this.#intervalMs = opts.intervalMs ?? 1000;
    this.#onClients = opts.onClients ?? (() => undefined);
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
  }

  #stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#previous.clear();
  }

  /** One stats snapshot per visible room to each client. */
  #tick(): void {
    const rooms = this.#registry.rooms().filter((r) => !r.closed);
    if (rooms.length === 0) return;
    const snapshots = rooms.map((r) => this.#stats(r, true));
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
        this.#broadcast(e.room, { type: "viewers", data: { room: e.room, viewers: room.viewers.size } });
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
      viewers: d.subscribers,
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
