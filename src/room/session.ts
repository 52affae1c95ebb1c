// What publisher and viewer sessions share: a secret id for the Location URL and a public id for the API. The
// watch on their peer connection is the transport's (rtc/connectionWatch.ts).
import { randomBytes } from "node:crypto";
import { newSessionId, type NodeId } from "../cluster/ids.ts";
import type { PeerState } from "../rtc/connectionWatch.ts";

export type SessionState = PeerState;

/**
 * The Location path segment, 32 characters: the node's id and 168 random bits (cluster/ids.ts), so that any node
 * a PATCH or DELETE lands on knows where the session lives; 192 random bits where no node id is given (unit tests).
 * Either way a session URL cannot be guessed.
 */
export function newSecretId(node?: NodeId): string {
  return node === undefined ? randomBytes(24).toString("base64url") : newSessionId(node);
}

/** A short id safe to show in the API and logs; knowing it grants nothing. */
export function newPublicId(): string {
  return randomBytes(6).toString("hex");
}
