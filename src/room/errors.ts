// What rooms refuse, as typed errors that know nothing of HTTP: src/http/errors.ts maps each to its status, body
// and headers, in one place (as MediaMTX's sentinel errors are mapped in its HTTP server).

export type RoomErrorCode =
  | "invalid_offer"
  | "negotiation_failed"
  | "unknown_layer"
  | "bad_ladder"
  | "publisher_exists"
  | "room_full"
  | "no_publisher"
  | "at_capacity"
  | "shutting_down"
  | "closed_during_negotiation"
  | "invalid_state";

export abstract class RoomError extends Error {
  abstract readonly code: RoomErrorCode;
}

/** The offer asks for something a session cannot do (no media of a kind, no codec roomcast forwards...). */
export class InvalidOfferError extends RoomError {
  readonly code = "invalid_offer";
  override name = "InvalidOfferError";
}

/** werift could not negotiate the offer; the detail is logged, the client is told its SDP is invalid. */
export class NegotiationFailedError extends RoomError {
  readonly code = "negotiation_failed";
  override name = "NegotiationFailedError";
  constructor(readonly detail: string) {
    super("invalid SDP");
  }
}

export class UnknownLayerError extends RoomError {
  readonly code = "unknown_layer";
  override name = "UnknownLayerError";
  constructor(
    readonly layer: string,
    readonly layers: readonly string[],
  ) {
    super(`no layer "${layer}" in this room (layers: ${layers.join(", ")})`);
  }
}

export class BadLadderError extends RoomError {
  readonly code = "bad_ladder";
  override name = "BadLadderError";
  constructor(detail: string) {
    super(`invalid ladder: ${detail}`);
  }
}

export class PublisherExistsError extends RoomError {
  readonly code = "publisher_exists";
  override name = "PublisherExistsError";
  constructor() {
    super("publisher already exists in this room");
  }
}

/** MAX_SUBS_PER_ROOM viewers already (the contract's "subscriber limit"). */
export class RoomFullError extends RoomError {
  readonly code = "room_full";
  override name = "RoomFullError";
  constructor() {
    super("subscriber limit reached");
  }
}

export class NoPublisherError extends RoomError {
  readonly code = "no_publisher";
  override name = "NoPublisherError";
  constructor() {
    super("no active publisher in room");
  }
}

/** Admission control: one more viewer would overload the server; try again after `retryAfterSec`. */
export class AtCapacityError extends RoomError {
  readonly code = "at_capacity";
  override name = "AtCapacityError";
  constructor(readonly retryAfterSec: number) {
    super("server is at capacity, try again shortly");
  }
}

export class ShuttingDownError extends RoomError {
  readonly code = "shutting_down";
  override name = "ShuttingDownError";
  constructor() {
    super("server is shutting down");
  }
}

/** The session was closed (its room, a DELETE) while its offer was being negotiated. */
export class ClosedDuringNegotiationError extends RoomError {
  readonly code = "closed_during_negotiation";
  override name = "ClosedDuringNegotiationError";
  constructor() {
    super("session closed during negotiation");
  }
}

/** Thrown by objects used after close(); a request racing a close gets a clean answer instead of a crash. */
export class InvalidStateError extends RoomError {
  readonly code = "invalid_state";
  override name = "InvalidStateError";
}
