// Session requests that land on a node that does not hold the session (docs/cluster.md, "Requests across nodes"):
// the session id starts with its node's id, so the request is forwarded there with a cluster token and the owner's
// answer is this node's, streamed (a WHEP event stream is a long answer). Used by every route under a session URL.
import type { Context } from "hono";
import { FORWARDED_HEADER, relayAnswer, requestNode } from "../node/forward.ts";
import { HttpError } from "./errors.ts";
import type { AppDeps } from "./types.ts";

/** A forwarded body is small (an sdpfrag, a layer or events list); one over this is refused here. */
const MAX_FORWARDED_BODY_BYTES = 64 * 1024;

async function forwardedBody(c: Context): Promise<ArrayBuffer | undefined> {
  if (c.req.method === "GET" || c.req.method === "HEAD" || c.req.method === "DELETE") return undefined;
  const body = await c.req.arrayBuffer();
  if (body.byteLength > MAX_FORWARDED_BODY_BYTES) throw new HttpError(413, "request body too large");
  return body;
}

/**
 * The owner's answer when the path's session belongs to another live node; undefined when it is here, on no live
 * node (the caller's lookup answers 404), or when the request was forwarded already (never twice). Call it after
 * the client's own credentials were checked, if the route checks any.
 */
export async function forwardToSessionOwner(c: Context, deps: AppDeps): Promise<Response | undefined> {
  const cluster = deps.cluster;
  const id = c.req.param("session") ?? "";
  if (!cluster || deps.registry.session(id) || c.req.header(FORWARDED_HEADER) !== undefined) return undefined;
  const owner = await cluster.sessionOwner(id);
  if (!owner) return undefined;
  const here = new URL(c.req.url);
  const res = await requestNode(owner.url, {
    method: c.req.method,
    path: here.pathname + here.search,
    headers: new Headers(c.req.raw.headers),
    body: await forwardedBody(c),
    token: await cluster.token(),
  });
  deps.metrics.clusterRequests.labels("forwarded").inc();
  return relayAnswer(res);
}
