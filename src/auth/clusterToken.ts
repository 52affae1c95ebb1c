// Tokens one node shows another (a relay's WHEP pull, a forwarded session request): short-lived HS256 JWTs signed
// with CLUSTER_SECRET, claims {cluster: true, node, aud, iat, exp}, verified with a clock tolerance as LiveKit's
// TokenVerifier does. The audience and the cluster claim keep the two kinds of token apart when an operator gives
// CLUSTER_SECRET and JWT_SECRET the same value: a room JWT never passes as a cluster token (it has neither), and a
// cluster token never opens a room (it has no room claim).
import { decodeJwt, errors as joseErrors, jwtVerify, SignJWT } from "jose";
import { isNodeId, type NodeId } from "../cluster/ids.ts";

/** Long enough for one request between two nodes with their clocks apart, short enough to be worthless later. */
export const CLUSTER_TOKEN_TTL_SEC = 60;
/** Clocks of two machines may disagree by this much. */
export const CLUSTER_CLOCK_TOLERANCE_SEC = 5;
const AUDIENCE = "roomcast-cluster";
/** A token issued longer ago than this is refused whatever its exp says. */
const MAX_AGE_SEC = 5 * 60;

export type ClusterTokenResult = { ok: true; node: NodeId } | { ok: false; reason: "expired" | "invalid" | "not a cluster token" };

/**
 * Whether a bearer token claims to be a cluster token (its audience), read without verifying anything: only such a
 * token is worth verifying as one, and a room JWT or a static token is left to the other kinds at no cost.
 */
export function looksLikeClusterToken(token: string): boolean {
  if (token.split(".").length !== 3) return false;
  try {
    const aud = decodeJwt(token).aud;
    return aud === AUDIENCE || (Array.isArray(aud) && aud.includes(AUDIENCE));
  } catch {
    return false;
  }
}

export class ClusterTokens {
  readonly #key: Uint8Array;

  constructor(secret: string) {
    if (secret.length === 0) throw new TypeError("empty cluster secret");
    this.#key = new TextEncoder().encode(secret);
  }

  /** `now` in milliseconds, for tests. */
  sign(node: NodeId, opts: { ttlSec?: number; now?: number } = {}): Promise<string> {
    const iat = Math.floor((opts.now ?? Date.now()) / 1000);
    return new SignJWT({ cluster: true, node })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setAudience(AUDIENCE)
      .setIssuedAt(iat)
      .setExpirationTime(iat + (opts.ttlSec ?? CLUSTER_TOKEN_TTL_SEC))
      .sign(this.#key);
  }

  async verify(token: string, opts: { now?: number } = {}): Promise<ClusterTokenResult> {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.#key, {
        algorithms: ["HS256"],
        audience: AUDIENCE,
        requiredClaims: ["exp", "iat"],
        clockTolerance: CLUSTER_CLOCK_TOLERANCE_SEC,
        maxTokenAge: MAX_AGE_SEC,
        currentDate: opts.now === undefined ? undefined : new Date(opts.now),
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) return { ok: false, reason: "expired" };
      // Signed by us but for something else (no audience: a room JWT under a shared secret).
      if (err instanceof joseErrors.JWTClaimValidationFailed) return { ok: false, reason: "not a cluster token" };
      return { ok: false, reason: "invalid" };
    }
    if (payload["cluster"] !== true || !isNodeId(payload["node"])) return { ok: false, reason: "not a cluster token" };
    return { ok: true, node: payload["node"] };
  }
}
