// What the captures service refuses, as typed errors that know nothing of HTTP (src/http maps them to statuses).

export type CaptureErrorCode = "invalid" | "not_found" | "room_not_found" | "too_many" | "already_running";

export class CaptureError extends Error {
  override name = "CaptureError";
  constructor(
    readonly code: CaptureErrorCode,
    message: string,
  ) {
    super(message);
  }
}
