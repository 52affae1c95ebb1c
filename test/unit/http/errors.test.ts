// The one map from the rooms' refusals to HTTP: the contract's statuses and messages, and Retry-After on 503.
import { describe, expect, it } from "vitest";
import { HttpError, httpErrorOf } from "../../../src/http/errors.ts";
import {
  AtCapacityError,
  BadLadderError,
  ClosedDuringNegotiationError,
  InvalidOfferError,
  InvalidStateError,
  NegotiationFailedError,
  NoPublisherError,
  PublisherExistsError,
  RoomFullError,
  ShuttingDownError,
  UnknownLayerError,
} from "../../../src/room/errors.ts";

describe("httpErrorOf", () => {
  it.each([
    [new PublisherExistsError(), 409, "publisher already exists in this room"],
    [new RoomFullError(), 403, "subscriber limit reached"],
    [new NoPublisherError(), 404, "no active publisher in room"],
    [new NegotiationFailedError("werift: no transceiver"), 400, "invalid SDP"],
    [new InvalidOfferError("offer asks for no kind of media this room publishes"), 400, "offer asks for no kind of media this room publishes"],
    [new UnknownLayerError("x", ["h", "l"]), 400, 'no layer "x" in this room (layers: h, l)'],
    [new BadLadderError("rung 9000p is not a size"), 400, "invalid ladder: rung 9000p is not a size"],
    [new ShuttingDownError(), 503, "server is shutting down"],
    [new ClosedDuringNegotiationError(), 503, "session closed during negotiation"],
    [new InvalidStateError("room is closed"), 409, "room is closed"],
  ])("%s → %i", (err, status, message) => {
    expect(httpErrorOf(err)).toMatchObject({ status, message, headers: {} });
  });

  it("at capacity is 503 with Retry-After", () => {
    expect(httpErrorOf(new AtCapacityError(5))).toMatchObject({ status: 503, message: "server is at capacity, try again shortly", headers: { "Retry-After": "5" } });
  });

  it("an HttpError is itself; anything else is not the contract's (a 500)", () => {
    const e = new HttpError(413, "request body too large");
    expect(httpErrorOf(e)).toBe(e);
    expect(httpErrorOf(new Error("boom"))).toBeUndefined();
    expect(httpErrorOf("a string")).toBeUndefined();
  });
});
