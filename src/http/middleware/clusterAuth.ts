// Node-to-node requests (a relay's WHEP pull and its reads of the origin's room, a forwarded session request, a
// recording delete asked of every node) carry a cluster token (auth/clusterToken.ts) instead of a client's
// credentials: the node that sent them checked the client already. This wraps the auth guard so that a valid
// cluster token passes every check; any other token, or a cluster token that does not verify, goes to the guard
// as before (and gets its 401 there).
//
// A WHIP/WHEP POST a node redirects to another (307) carries a grant in its Location (`?grant=`, auth/
// clusterToken.ts's RoomGrant): the client's own Authorization header does not survive a redirect to another
// origin, so the grant stands for it, for that room and action only.
import type { Context } from "hono";
import { extractToken } from "../../auth/authorizer.ts";
import { looksLikeClusterToken, type ClusterTokens } from "../../auth/clusterToken.ts";
import type { NodeId } from "../../cluster/ids.ts";
import type { AuthGuard } from "./auth.ts";

/** The query parameter of a redirect's grant. */
export const GRANT_PARAM = "grant";

/** The requesting node of each request a cluster token authenticated. */
const peers = new WeakMap<Request, NodeId>();

/** The node that sent this request, when a cluster token authenticated it (after the guard ran). */
export function clusterPeer(c: Context): NodeId | undefined {
  return peers.get(c.req.raw);
}

export function clusterAwareGuard(guard: AuthGuard, tokens: ClusterTokens | undefined): AuthGuard {
  if (!tokens) return guard;
  const verifier = tokens;
  async function peer(c: Context): Promise<NodeId | undefined> {
    const known = peers.get(c.req.raw);
    if (known !== undefined) return known;
    const token = extractToken(c.req.raw.headers);
    if (token === undefined || !looksLikeClusterToken(token)) return undefined;
    const result = await verifier.verify(token);
    if (!result.ok) return undefined;
    peers.set(c.req.raw, result.node);
    return result.node;
  }
  return {
    async room(c, room, action) {
      if ((await peer(c)) !== undefined) return undefined;
      const grant = c.req.query(GRANT_PARAM);
      if (grant !== undefined) {
        const result = await verifier.verifyGrant(grant);
        if (result.ok && result.grant.room === room && result.grant.action === action) return { room, can: [action], ladder: result.grant.ladder };
      }
      return guard.room(c, room, action);
    },
    async admin(c) {
      if ((await peer(c)) !== undefined) return;
      return guard.admin(c);
    },
    async roomFilter(c, opts) {
      if ((await peer(c)) !== undefined) return () => true;
      return guard.roomFilter(c, opts);
    },
  };
}
