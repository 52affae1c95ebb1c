// Node ids and the session ids that carry them. A session's secret id (the last segment of its Location) starts
// with its node's id, so any node that receives a PATCH or DELETE for it knows where to forward it without asking
// the directory; the 28 characters after it keep the 168 random bits that make the URL unguessable.
import { randomBytes } from "node:crypto";

/** 4 base64url characters (24 random bits), unique in the directory. */
export type NodeId = string;

export const NODE_ID_LENGTH = 4;
export const SESSION_ID_LENGTH = 32;

const NODE_ID = /^[A-Za-z0-9_-]{4}$/;
const SESSION_ID = /^[A-Za-z0-9_-]{32}$/;

export function newNodeId(): NodeId {
  return randomBytes(3).toString("base64url");
}

export function isNodeId(value: unknown): value is NodeId {
  return typeof value === "string" && NODE_ID.test(value);
}

/** The node id followed by 28 random base64url characters (21 bytes): 32 characters. */
export function newSessionId(node: NodeId): string {
  if (!isNodeId(node)) throw new TypeError(`not a node id: "${node}"`);
  return node + randomBytes(21).toString("base64url");
}

/** The node a session id belongs to, or undefined when the id is not one of ours (any length, any alphabet). */
export function sessionNode(sessionId: string): NodeId | undefined {
  return SESSION_ID.test(sessionId) ? sessionId.slice(0, NODE_ID_LENGTH) : undefined;
}
