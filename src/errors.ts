// Typed errors, mapped to HTTP in exactly one place (http/app.ts onError).

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
export const unauthorized = () => new HttpError(401, "unauthorized");
export const forbidden = (message = "forbidden") => new HttpError(403, message);
export const notFound = (message = "not found") => new HttpError(404, message);
export const noPublisher = () => new HttpError(404, "no active publisher in room");
export const publisherExists = () => new HttpError(409, "publisher already exists in this room");
export const subscriberLimit = () => new HttpError(403, "subscriber limit reached");
export const tooManyRequests = (retryAfterSec: number) =>
  new HttpError(429, "too many requests", { "Retry-After": String(retryAfterSec) });
export const payloadTooLarge = () => new HttpError(413, "request body too large");
export const unsupportedMediaType = () => new HttpError(415, "content type must be application/sdp");
export const serviceUnavailable = (message: string) => new HttpError(503, message);

/** Thrown by objects used after close(); a request racing a close gets a clean answer instead of a crash. */
export class InvalidStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidStateError";
  }
}
