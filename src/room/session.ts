// What publisher and viewer sessions share: a secret id for the Location URL and a public id for the API. The
// watch on their peer connection is the transport's (rtc/connectionWatch.ts).
import { randomBytes } from "node:crypto";
import type { PeerState } from "../rtc/connectionWatch.ts";

export type SessionState = PeerState;

/** The Location path segment: 192 random bits, so a session URL cannot be guessed. */
export function newSecretId(): string {
  return randomBytes(24).toString("base64url");
}

/** A short id safe to show in the API and logs; knowing it grants nothing. */
export function newPublicId(): string {
  return randomBytes(6).toString("hex");
}
