import { timingSafeEqual } from "node:crypto";
import { jwtVerify, errors as joseErrors } from "jose";
import type { Config } from "../config.ts";
import { authEnabled } from "../config.ts";

export type RoomAction = "publish" | "play";

export type AuthDecision =
  | { ok: true; via: "open" | "room-token" | "auth-token" | "jwt" | "admin-token"; claims?: RoomClaims }
  | { ok: false; status: 401 | 403; reason: string };

/** Grants a JWT carries for roomcast, as LiveKit's typed grants: a room (or *), and what the bearer may do. */
export interface RoomClaims {
  room: string;
  can: RoomAction[] | undefined;
  ladder: string | undefined;
}

const ACTIONS: readonly RoomAction[] = ["publish", "play"];
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Pulls the token from `Authorization: Bearer` or `X-Auth-Token` (in that order); `?token=` only where allowed. */
export function extractToken(headers: Headers, queryToken?: string | undefined): string | undefined {
  const authz = headers.get("authorization");
  if (authz) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authz);
    if (m?.[1]) return m[1];
  }
  const x = headers.get("x-auth-token")?.trim();
  if (x) return x;
  if (queryToken) return queryToken;
  return undefined;
}

function sameSecret(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  // Length leaks nothing useful here (tokens are operator-chosen); the compare itself must not leak a prefix.
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

export class Authorizer {
  readonly enabled: boolean;
  readonly #config: Config;
  readonly #secret: Uint8Array | undefined;

  constructor(config: Config) {
    this.#config = config;
    this.enabled = authEnabled(config);
    this.#secret = config.jwtSecret === undefined ? undefined : new TextEncoder().encode(config.jwtSecret);
  }

  /** The reference's order: room token, AUTH_TOKEN, JWT, ADMIN_TOKEN; open when nothing is configured. */
  async authorizeRoom(token: string | undefined, room: string, action: RoomAction): Promise<AuthDecision> {
    if (!this.enabled) return { ok: true, via: "open" };
    if (token === undefined) return { ok: false, status: 401, reason: "missing token" };

    const roomToken = this.#config.roomTokens.get(room);
    if (roomToken !== undefined && sameSecret(token, roomToken)) return { ok: true, via: "room-token" };
    if (this.#config.authToken !== undefined && sameSecret(token, this.#config.authToken)) {
      return { ok: true, via: "auth-token" };
    }
    // An ADMIN_TOKEN that happens to look like a JWT (a.b.c) must still reach the admin check below.
    if (this.#secret !== undefined && JWT_SHAPE.test(token) && !this.isAdmin(token)) {
      const jwt = await this.#verifyJwt(token);
      if (!jwt.ok) return jwt;
      const { claims } = jwt;
      if (claims.room !== "*" && claims.room !== room) {
        return { ok: false, status: 403, reason: `token is for room "${claims.room}"` };
      }
      if (claims.can !== undefined && !claims.can.includes(action)) {
        return { ok: false, status: 403, reason: `token does not allow ${action}` };
      }
      return { ok: true, via: "jwt", claims };
    }
    if (this.isAdmin(token)) return { ok: true, via: "admin-token" };
    return { ok: false, status: 401, reason: "unknown token" };
  }

  /**
   * For listings: which rooms a token may see. AUTH_TOKEN/ADMIN_TOKEN see all, a room token its room, a JWT its
   * room claim. A token that is none of these is refused like any other bad token.
   */
  async roomFilter(token: string | undefined): Promise<((room: string) => boolean) | Extract<AuthDecision, { ok: false }>> {
    if (!this.enabled) return () => true;
    if (token === undefined) return { ok: false, status: 401, reason: "missing token" };
    if (this.isAdmin(token)) return () => true;
    if (this.#config.authToken !== undefined && sameSecret(token, this.#config.authToken)) return () => true;
    const rooms = [...this.#config.roomTokens].filter(([, t]) => sameSecret(token, t)).map(([room]) => room);
    if (rooms.length > 0) return (room) => rooms.includes(room);
    if (this.#secret !== undefined && JWT_SHAPE.test(token)) {
      const jwt = await this.#verifyJwt(token);
      if (!jwt.ok) return jwt;
      const claim = jwt.claims.room;
      return (room) => claim === "*" || claim === room;
    }
    return { ok: false, status: 401, reason: "unknown token" };
  }

  /** Admin endpoints open only to ADMIN_TOKEN; with no admin token configured they stay closed. */
  authorizeAdmin(token: string | undefined): AuthDecision {
    if (token === undefined) return { ok: false, status: 401, reason: "missing token" };
    if (this.isAdmin(token)) return { ok: true, via: "admin-token" };
    return { ok: false, status: 401, reason: "admin token required" };
  }

  isAdmin(token: string | undefined): boolean {
    const admin = this.#config.adminToken;
    return admin !== undefined && token !== undefined && sameSecret(token, admin);
  }

  async #verifyJwt(token: string): Promise<{ ok: true; claims: RoomClaims } | { ok: false; status: 401 | 403; reason: string }> {
    try {
      const { payload } = await jwtVerify(token, this.#secret as Uint8Array, {
        algorithms: ["HS256"],
        requiredClaims: ["exp"],
        clockTolerance: 5,
      });
      const room = payload["room"];
      if (typeof room !== "string" || room === "") {
        return { ok: false, status: 403, reason: "token has no room claim" };
      }
      const canRaw = payload["can"];
      let can: RoomAction[] | undefined;
      if (canRaw !== undefined) {
        if (!Array.isArray(canRaw) || !canRaw.every((a): a is RoomAction => ACTIONS.includes(a as RoomAction))) {
          return { ok: false, status: 403, reason: 'claim "can" must be a list of "publish" and "play"' };
        }
        can = canRaw;
      }
      const ladder = typeof payload["ladder"] === "string" ? payload["ladder"] : undefined;
      return { ok: true, claims: { room, can, ladder } };
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) return { ok: false, status: 401, reason: "token expired" };
      if (err instanceof joseErrors.JWTClaimValidationFailed) return { ok: false, status: 401, reason: err.message };
      return { ok: false, status: 401, reason: "invalid token" };
    }
  }
}
