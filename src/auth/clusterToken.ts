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
/** A grant's audience: a grant is no cluster token, and a cluster token no grant. */
const GRANT_AUDIENCE = "roomcast-grant";
/** A token issued longer ago than this is refused whatever its exp says. */
const MAX_AGE_SEC = 5 * 60;

export type ClusterTokenResult = { ok: true; node: NodeId } | { ok: false; reason: "expired" | "invalid" | "not a cluster token" };

/**
 * What a node that redirects a WHIP/WHEP POST vouches for, in the Location's `?grant=`: a client following a 307 to
 * another origin (another port is one) drops its Authorization header, as browsers and curl do, so the node that
 * checked the client's credentials hands the next node this instead: one room, one action, for a minute.
 */
export interface RoomGrant {
  room: string;
  action: "publish" | "play";
  /** The ladder the client's token named for a publish (its JWT claim), which the next node must apply too. */
  ladder?: string | undefined;
}

export type GrantResult = { ok: true; node: NodeId; grant: RoomGrant } | { ok: false; reason: "expired" | "invalid" };

function parseGrant(v: unknown): RoomGrant | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const g = v as Record<string, unknown>;
  if (typeof g["room"] !== "string" || (g["action"] !== "publish" && g["action"] !== "play")) return undefined;
  if (g["ladder"] !== undefined && typeof g["ladder"] !== "string") return undefined;
  return { room: g["room"], action: g["action"], ladder: g["ladder"] as string | undefined };
}

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

  /** A grant for one room and action, signed by `node` (see RoomGrant); `now` in milliseconds, for tests. */
  signGrant(node: NodeId, grant: RoomGrant, opts: { now?: number } = {}): Promise<string> {
    const iat = Math.floor((opts.now ?? Date.now()) / 1000);
    return new SignJWT({ node, grant: { room: grant.room, action: grant.action, ...(grant.ladder === undefined ? {} : { ladder: grant.ladder }) } })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setAudience(GRANT_AUDIENCE)
      .setIssuedAt(iat)
      .setExpirationTime(iat + CLUSTER_TOKEN_TTL_SEC)
      .sign(this.#key);
  }

  async verifyGrant(token: string, opts: { now?: number } = {}): Promise<GrantResult> {
    try {
      const { payload } = await jwtVerify(token, this.#key, {
        algorithms: ["HS256"],
        audience: GRANT_AUDIENCE,
        requiredClaims: ["exp", "iat"],
        clockTolerance: CLUSTER_CLOCK_TOLERANCE_SEC,
        maxTokenAge: MAX_AGE_SEC,
        currentDate: opts.now === undefined ? undefined : new Date(opts.now),
      });
      const grant = parseGrant(payload["grant"]);
      if (!grant || !isNodeId(payload["node"])) return { ok: false, reason: "invalid" };
      return { ok: true, node: payload["node"], grant };
    } catch (err) {
      return { ok: false, reason: err instanceof joseErrors.JWTExpired ? "expired" : "invalid" };
    }
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
