// The server's rooms, and the index from secret session ids (the Location URLs) to sessions.
import { AtCapacityError, ClosedDuringNegotiationError, NoPublisherError, PublisherExistsError, ShuttingDownError } from "./errors.ts";
import type { ParsedOffer } from "../rtc/sdp.ts";
import { RESERVATION_MS } from "../metrics/load.ts";
import type { RoomContext } from "./context.ts";
import { ROOM_TICK_MS } from "./idleClock.ts";
import type { PublisherSession } from "./publisher.ts";
import type { RoomSummary } from "../api.ts";
import type { OriginRef } from "./relay.ts";
import { Room, type PublishOptions } from "./room.ts";
import type { ViewerSession } from "./viewer.ts";

export type Session = PublisherSession | ViewerSession;

/** What live views (the events hub) hear about: rooms opening and closing, sessions joining and leaving. */
export type RegistryEvent =
  | { type: "room-opened"; room: string }
  | { type: "room-closed"; room: string }
  | { type: "session-opened" | "session-closed"; room: string; kind: Session["kind"]; session: string };

export interface PlayOptions {
  /** The layer the viewer asked for (WHEP ?layer=). */
  layer?: string | undefined;
  /** Where the room lives when it is not here: the viewer is then served from a relay of it. */
  origin?: OriginRef | undefined;
  /** The session is this node's relay of the room (a cluster token): never refused by admission, not a viewer. */
  relayFor?: string | undefined;
}

export type RegistryListener = (event: RegistryEvent) => void;

export interface Negotiated<S extends Session> {
  session: S;
  answer: string;
}

/** What a refused viewer is told to wait: long enough for load to change, short enough for a player to retry. */
const ADMISSION_RETRY_AFTER_SEC = 5;

export class RoomRegistry {
  readonly #rooms = new Map<string, Room>();
  readonly #sessions = new Map<string, { session: Session; room: Room }>();
  readonly #ctx: RoomContext;
  #closed = false;
  /** Monotonic: a wall clock stepped by NTP must not look like a stalled (or a racing) loop. */
  #lastTick = performance.now();
  readonly #ticker: ReturnType<typeof setInterval>;
  readonly #listeners = new Set<RegistryListener>();

  constructor(ctx: RoomContext) {
    this.#ctx = ctx;
    this.#ticker = setInterval(() => this.#tick(), ROOM_TICK_MS);
    this.#ticker.unref?.();
  }

  get(name: string): Room | undefined {
    return this.#rooms.get(name);
  }

  list(): RoomSummary[] {
    return [...this.#rooms.values()].map((r) => r.summary()).sort((a, b) => a.name.localeCompare(b.name));
  }

  rooms(): Room[] {
    return [...this.#rooms.values()];
  }

  session(id: string): { session: Session; room: Room } | undefined {
    return this.#sessions.get(id);
  }

  /** Every session of every room, in the order they were opened. */
  sessions(): { session: Session; room: Room }[] {
    return [...this.#sessions.values()];
  }

  /** Hears every room and session change as it happens; returns the unsubscribe. */
  subscribe(listener: RegistryListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The room is claimed before the first await, so two racing publishes cannot both win. */
  async publish(name: string, offer: ParsedOffer, sdp: string, opts: PublishOptions = {}): Promise<Negotiated<PublisherSession>> {
    if (this.#closed) throw new ShuttingDownError();
    const existing = this.#rooms.get(name);
    if (existing?.publisher && !existing.publisher.closed) throw new PublisherExistsError();
    const room = existing ?? this.#openRoom(name);
    let session: PublisherSession;
    try {
      session = room.createPublisher(offer, opts);
    } catch (err) {
      if (!existing) room.close("publish refused");
      throw err;
    }
    try {
      const answer = await session.answer(sdp);
      if (session.closed) throw new ClosedDuringNegotiationError();
      return { session, answer };
    } catch (err) {
      session.close("negotiation failed");
      throw err;
    }
  }

  /**
   * A viewer of a room here. A room that is not here but has an `origin` is to be served from a relay of it (the
   * relay's part: until it is built, such a play is refused as any play of a room without a publisher).
   */
  async play(name: string, offer: ParsedOffer, sdp: string, opts: PlayOptions = {}): Promise<Negotiated<ViewerSession>> {
    if (this.#closed) throw new ShuttingDownError();
    const { layer, relayFor } = opts;
    const room = this.#rooms.get(name);
    if (!room || !room.publisher || room.publisher.closed) throw new NoPublisherError();
    // Another node's relay is one session feeding many viewers there, each admitted by that node.
    const admission = relayFor === undefined ? this.#ctx.load : undefined;
    const reservation = admission ? admission.admit(room.viewerPacketRate(layer)) : undefined;
    if (admission && !reservation) {
      this.#ctx.metrics.admissionRejected.inc();
      throw new AtCapacityError(ADMISSION_RETRY_AFTER_SEC);
    }
    let session: ViewerSession;
    try {
      session = room.createViewer(offer, layer);
    } catch (err) {
      reservation?.release();
      throw err;
    }
    // Its cost is reserved until the CPU figures show it: a little after it connects, or at once if it never does.
    session.onSettled((connected) => reservation?.release(connected ? RESERVATION_MS : 0));
    try {
      const answer = await session.answer(sdp);
      if (session.closed) throw new NoPublisherError();
      return { session, answer };
    } catch (err) {
      session.close("negotiation failed");
      throw err;
    }
  }

  /** Ends one session by its secret id; false when there is no such session (a second DELETE). */
  endSession(id: string, reason: string): boolean {
    const entry = this.#sessions.get(id);
    if (!entry) return false;
    entry.session.close(reason);
    return true;
  }

  closeRoom(name: string, reason: string): boolean {
    const room = this.#rooms.get(name);
    if (!room) return false;
    room.close(reason);
    return true;
  }

  /** Shutdown: no new sessions, every room closed. */
  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#ticker);
    for (const room of [...this.#rooms.values()]) room.close(reason);
  }

  #openRoom(name: string): Room {
    const { metrics } = this.#ctx;
    const room: Room = new Room(this.#ctx, name, {
      onClosed: (r) => {
        if (this.#rooms.get(r.name) === r) this.#rooms.delete(r.name);
        metrics.liveRooms.set(this.#rooms.size);
        this.#emit({ type: "room-closed", room: r.name });
      },
      onSessionOpened: (s) => {
        this.#sessions.set(s.id, { session: s, room });
        metrics.sessions.labels(s.kind).inc();
        metrics.sessionsTotal.labels(s.kind).inc();
        this.#emit({ type: "session-opened", room: name, kind: s.kind, session: s.publicId });
      },
      onSessionClosed: (s) => {
        if (this.#sessions.delete(s.id)) metrics.sessions.labels(s.kind).dec();
        this.#emit({ type: "session-closed", room: name, kind: s.kind, session: s.publicId });
      },
    });
    this.#rooms.set(name, room);
    metrics.liveRooms.set(this.#rooms.size);
    room.log.info("room opened");
    this.#emit({ type: "room-opened", room: name });
    return room;
  }

  /** One bad listener must not break the others, nor the room change that caused the event. */
  #emit(event: RegistryEvent): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (err) {
        this.#ctx.log.warn({ err, event: event.type }, "registry listener failed");
      }
    }
  }

  #tick(): void {
    const now = Date.now();
    const mono = performance.now();
    const elapsed = mono - this.#lastTick;
    this.#lastTick = mono;
    for (const room of [...this.#rooms.values()]) room.tick(elapsed, now);
  }
}
