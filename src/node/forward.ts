// Requests from this node to another one, over its direct URL, authenticated with a cluster token: a session
// request forwarded to the node that holds the session, a room's details read from its origin, a recording delete
// asked of the other nodes. Plain fetch: a node is an HTTP server like any other.

/** Marks a request one node sent another, so that it is answered where it lands and never forwarded again. */
export const FORWARDED_HEADER = "X-Roomcast-Forwarded";
/** A node answers from memory; one that has not within this is down or stuck. */
export const NODE_REQUEST_TIMEOUT_MS = 5000;

/** The other node could not be reached (refused, reset, timed out). */
export class NodeUnreachableError extends Error {
  override name = "NodeUnreachableError";
}

/** Headers that describe one hop, or that fetch sets itself: never copied from one request or answer to another. */
const HOP_HEADERS = new Set(["connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host", "content-length", "content-encoding", "proxy-connection"]);
/** The client's own credentials stay on the node that checked them: the next node trusts the cluster token. */
const CREDENTIAL_HEADERS = new Set(["authorization", "x-auth-token", "cookie"]);

export interface NodeRequest {
  method: string;
  /** Path and query, e.g. /api/whep/play/room/ID. */
  path: string;
  headers?: Headers;
  body?: ArrayBuffer | string | undefined;
  token: string;
  /** How long the node may take to answer (its headers; a streamed body may last). */
  timeoutMs?: number;
}

/** Sends the request to `base` (a node's direct URL); rejects with NodeUnreachableError when no answer comes. */
export async function requestNode(base: string, req: NodeRequest): Promise<Response> {
  const headers = new Headers();
  for (const [k, v] of req.headers ?? []) if (!HOP_HEADERS.has(k) && !CREDENTIAL_HEADERS.has(k)) headers.append(k, v);
  headers.set("Authorization", `Bearer ${req.token}`);
  headers.set(FORWARDED_HEADER, "1");
  // Until the answer's headers: a streamed body (an event stream) lasts as long as its reader, and ends with it.
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error("timed out")), req.timeoutMs ?? NODE_REQUEST_TIMEOUT_MS);
  try {
    return await fetch(new URL(req.path, base), { method: req.method, headers, body: req.body, redirect: "manual", signal: abort.signal });
  } catch (err) {
    throw new NodeUnreachableError(`node ${base} did not answer: ${(err as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Another node's answer, to be sent on as this node's: status, body (streamed as it comes; the client going away
 * cancels it, and so the request to the other node) and headers, less those of the hop (fetch has already decoded
 * the body) and the CORS ones (this node's own middleware sets those).
 */
export function relayAnswer(res: Response): Response {
  const headers = new Headers();
  for (const [k, v] of res.headers) {
    if (HOP_HEADERS.has(k) || k.startsWith("access-control-")) continue;
    headers.append(k, v);
  }
  const empty = res.status === 204 || res.status === 304;
  if (empty) void res.body?.cancel();
  return new Response(empty ? null : res.body, { status: res.status, headers });
}
