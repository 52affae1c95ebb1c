// HTTP errors, and the one map from the rooms' domain errors to statuses, bodies and headers (app.onError uses it).
import { DirectoryStateError, DirectoryUnavailableError } from "../cluster/directory.ts";
import { NodeUnreachableError } from "../node/forward.ts";
import { AtCapacityError, RoomError, type RoomErrorCode } from "../room/errors.ts";
import { WebhookConflictError } from "../webhooks/webhooks.ts";
import { CaptureError, type CaptureErrorCode } from "../captures/errors.ts";

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export const badRequest = (message: string) => new HttpError(400, message);
export const invalidSdp = () => new HttpError(400, "invalid SDP");
export const invalidRoomName = () => new HttpError(400, "invalid room name");
export const notFound = (message = "not found") => new HttpError(404, message);
export const tooManyRequests = (retryAfterSec: number) =>
  new HttpError(429, "too many requests", { "Retry-After": String(retryAfterSec) });
export const payloadTooLarge = () => new HttpError(413, "request body too large");
export const serviceUnavailable = (message: string) => new HttpError(503, message);
export const unsupportedMediaType = () => new HttpError(415, "content type must be application/sdp");

/** Marks the handlers methodNotAllowed makes (a bundler may rename functions: names are no sign). */
export const REFUSES_METHOD = Symbol("refuses the method");

/**
 * The handler for the methods a path does not take: 405 with `Allow`. Marked, so that a route list (the OpenAPI
 * test's) can tell these refusals from the operations.
 */
export function methodNotAllowed(allow: string): () => never {
  const refuse = (): never => {
    throw new HttpError(405, "method not allowed", { Allow: allow });
  };
  return Object.assign(refuse, { [REFUSES_METHOD]: true });
}

/** The status of each refusal a room can make; the contract's (api-reference) where it names one. */
const ROOM_ERROR_STATUS: Record<RoomErrorCode, number> = {
  invalid_offer: 400,
  negotiation_failed: 400,
  unknown_layer: 400,
  bad_ladder: 400,
  publisher_exists: 409,
  room_full: 403,
  no_publisher: 404,
  at_capacity: 503,
  shutting_down: 503,
  closed_during_negotiation: 503,
  invalid_state: 409,
};

const CAPTURE_ERROR_STATUS: Record<CaptureErrorCode, number> = {
  invalid: 400,
  not_found: 404,
  room_not_found: 404,
  already_running: 409,
  too_many: 409,
};

/** What a client refused because the cluster directory is away is told to wait: Redis back, a node restarted. */
const DIRECTORY_RETRY_AFTER_SEC = 2;

/** The HTTP answer to an error, when it is one the contract knows; undefined means a 500. */
export function httpErrorOf(err: unknown): HttpError | undefined {
  if (err instanceof HttpError) return err;
  // What needs the directory while it is unreachable (or not yet joined, at start) waits; the node's own rooms do not.
  if (err instanceof DirectoryUnavailableError || err instanceof DirectoryStateError) {
    return new HttpError(503, "cluster directory unavailable, try again shortly", { "Retry-After": String(DIRECTORY_RETRY_AFTER_SEC) });
  }
  if (err instanceof NodeUnreachableError) return new HttpError(502, "the node that holds this did not answer");
  if (err instanceof WebhookConflictError) return new HttpError(409, err.message);
  if (err instanceof CaptureError) return new HttpError(CAPTURE_ERROR_STATUS[err.code], err.message);
  if (!(err instanceof RoomError)) return undefined;
  const headers: Record<string, string> = {};
  if (err instanceof AtCapacityError) headers["Retry-After"] = String(err.retryAfterSec);
  return new HttpError(ROOM_ERROR_STATUS[err.code], err.message, headers);
}
