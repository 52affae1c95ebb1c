// The WHEP event streams (draft-ietf-wish-whep-02, "Server Sent Events extension"): a viewer's player creates a
// stream with the list of events it wants (POST {Location}/events), then long-pulls it. The hub reads each
// watched room once a second and hands every attached stream what changed (whepFeed.ts); a stream ends with its
// session, with a last "inactive" when the publication ended too. Streams are kept per viewer session, a few at
// most (the oldest gives way), and the timer runs only while a stream exists.
import { randomBytes } from "node:crypto";
import type { RegistryEvent, RoomRegistry } from "./registry.ts";
import type { Room } from "./room.ts";
import type { ViewerSession } from "./viewer.ts";
import { WhepFeed, type WhepEvent, type WhepEventType, type WhepLayers, type WhepView } from "./whepFeed.ts";

/** A publisher that has sent nothing for this long is not "active", though still connected. */
export const STALL_MS = 3000;
/** Streams one viewer session may have; a player needs one, a reload or a second tab another. */
export const MAX_STREAMS_PER_SESSION = 4;

export interface WhepStreamClient {
  send(event: WhepEvent): void;
  /** The stream is over (its session ended, it was deleted or replaced, the server is closing). */
  end(): void;
}

interface Stream {
  readonly id: string;
  /** The session's secret id (its Location) and public id (what the registry's events name). */
  readonly sessionId: string;
  readonly publicId: string;
  readonly room: string;
  readonly feed: WhepFeed;
  client: WhepStreamClient | undefined;
}

export interface WhepEventsOptions {
  intervalMs?: number;
  stallMs?: number;
}

/** Whether the room has a publication going on now: a connected publisher whose packets still arrive. */
export function isActive(room: Room | undefined, now: number, stallMs = STALL_MS): boolean {
  const p = room?.publisher;
  if (!room || room.closed || !p || p.closed || p.state !== "connected") return false;
  const last = p.tracks.reduce((m, t) => Math.max(m, t.lastPacketAt), 0);
  return now - last < stallMs;
}

/** The viewer's video layers in the draft's form: keyed by its video m-line, each with its current bitrate. */
export function layersOf(session: ViewerSession): WhepLayers {
  const video = session.video;
  if (!video) return {};
  return { [String(video.mline)]: video.track.layers.map((l) => ({ rid: l.name, bitrate: l.bitrate })) };
}

export class WhepEventsHub {
  readonly #registry: RoomRegistry;
  readonly #intervalMs: number;
  readonly #stallMs: number;
  readonly #streams = new Map<string, Stream>();
  readonly #unsubscribe: () => void;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(registry: RoomRegistry, opts: WhepEventsOptions = {}) {
    this.#registry = registry;
    this.#intervalMs = opts.intervalMs ?? 1000;
    this.#stallMs = opts.stallMs ?? STALL_MS;
    this.#unsubscribe = registry.subscribe((e) => this.#onRegistry(e));
  }

  /** A new stream for a live viewer session (the caller found it); its id is the secret in its URL. */
  create(session: ViewerSession, room: string, events: readonly WhepEventType[]): string {
    const mine = [...this.#streams.values()].filter((s) => s.sessionId === session.id);
    for (const old of mine.slice(0, Math.max(0, mine.length - MAX_STREAMS_PER_SESSION + 1))) this.remove(old.id);
    const id = randomBytes(16).toString("hex");
    this.#streams.set(id, { id, sessionId: session.id, publicId: session.publicId, room, feed: new WhepFeed(events), client: undefined });
    if (!this.#closed) {
      this.#timer ??= setInterval(() => this.#tick(), this.#intervalMs);
      this.#timer.unref?.();
    }
    return id;
  }

  /** Whether `id` is a stream of the session `sessionId`. */
  has(id: string, sessionId: string): boolean {
    return this.#streams.get(id)?.sessionId === sessionId;
  }

  /**
   * The long pull: `client` hears the current state at once, then what changes. A second pull of the same stream
   * (a reconnecting EventSource) replaces the first. Returns the detach, or undefined for an unknown stream.
   */
  attach(id: string, client: WhepStreamClient): (() => void) | undefined {
    const stream = this.#streams.get(id);
    if (!stream) return undefined;
    const view = this.#view(stream);
    if (!view) return undefined;
    const previous = stream.client;
    stream.client = client;
    previous?.end();
    for (const e of stream.feed.start(view, Date.now())) client.send(e);
    return () => {
      if (stream.client === client) stream.client = undefined;
    };
  }

  /** DELETE on the stream; false when there is none (then and after, its URL answers 404). */
  remove(id: string): boolean {
    const stream = this.#streams.get(id);
    if (!stream) return false;
    this.#streams.delete(id);
    stream.client?.end();
    stream.client = undefined;
    if (this.#streams.size === 0) this.#stopTimer();
    return true;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    for (const id of [...this.#streams.keys()]) this.remove(id);
    this.#stopTimer();
  }

  #view(stream: Stream): WhepView | undefined {
    const entry = this.#registry.session(stream.sessionId);
    if (!entry || entry.session.kind !== "viewer" || entry.session.closed) return undefined;
    return {
      active: isActive(entry.room, Date.now(), this.#stallMs),
      layers: layersOf(entry.session),
      viewers: entry.room.viewers.size,
    };
  }

  #tick(): void {
    const now = Date.now();
    for (const stream of [...this.#streams.values()]) {
      const client = stream.client;
      if (!client) continue;
      const view = this.#view(stream);
      if (!view) continue;
      for (const e of stream.feed.update(view, now)) client.send(e);
    }
  }

  /** A viewer's session ended: its streams end, with "inactive" first when the room's publication ended with it. */
  #onRegistry(e: RegistryEvent): void {
    if (e.type !== "session-closed" || e.kind !== "viewer") return;
    const room = this.#registry.get(e.room);
    const ended = !room || room.closed || !room.publisher || room.publisher.closed;
    for (const stream of [...this.#streams.values()]) {
      if (stream.publicId !== e.session) continue;
      const client = stream.client;
      if (client) for (const ev of stream.feed.end(ended)) client.send(ev);
      this.remove(stream.id);
    }
  }

  #stopTimer(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
