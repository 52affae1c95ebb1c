import type { Context } from "hono";
import type { AuthHook, HookAction } from "../../auth/authHook.ts";
import { extractToken, type AuthDecision, type Authorizer, type RoomAction, type RoomClaims } from "../../auth/authorizer.ts";
import { HttpError, serviceUnavailable } from "../errors.ts";
import type { Metrics } from "../../metrics/metrics.ts";

export interface RoomFilterOptions {
  /** Also accept `?token=`, for clients that cannot set headers (EventSource, <video src>). */
  queryToken?: boolean;
  /** What the listing is for, as the auth hook is asked; "play" by default. */
  action?: HookAction;
  /** The one room the request is about, when it is about one: the auth hook is asked about it instead of "*". */
  room?: string | undefined;
}

export interface AuthGuard {
  /** Resolves with the JWT claims (if any) or throws 401/403 after the fixed delay. Runs before the body is read. */
  room(c: Context, room: string, action: RoomAction): Promise<RoomClaims | undefined>;
  admin(c: Context): Promise<void>;
  /** For listings: a predicate over room names, or 401/403 after the fixed delay. */
  roomFilter(c: Context, opts?: RoomFilterOptions): Promise<(room: string) => boolean>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The static token kinds decide first (room token, AUTH_TOKEN, JWT, ADMIN_TOKEN; see Authorizer). With an auth hook,
 * every request they would refuse with 401 (no token, a token they do not know, an expired or forged JWT) is put to
 * the hook, whose answer is final; a valid JWT for another room or action stays a local 403. See docs/auth-hook.md.
 */
export function authGuard(authorizer: Authorizer, metrics: Metrics, failDelayMs: number, hook?: AuthHook): AuthGuard {
  // A failed answer always waits the same time, so a client cannot try tokens quickly or time the compare.
  async function refuse(decision: { status: 401 | 403; reason: string }): Promise<never> {
    metrics.authFailures.labels(String(decision.status)).inc();
    await sleep(failDelayMs);
    throw new HttpError(decision.status, decision.status === 401 ? "unauthorized" : `forbidden: ${decision.reason}`);
  }
  async function askHook(c: Context, h: AuthHook, room: string, action: HookAction, token: string | undefined) {
    const ip = (c.env as { ip?: string } | undefined)?.ip;
    const decision = await h.decide({ room, action, token, ip });
    if (decision.ok) return decision;
    if (decision.status === 503) throw serviceUnavailable(decision.reason);
    return refuse({ status: decision.status, reason: decision.reason });
  }
  const fallsToHook = (d: Extract<AuthDecision, { ok: false }>): boolean => hook !== undefined && d.status === 401;
  return {
    async room(c, room, action) {
      const token = extractToken(c.req.raw.headers);
      const decision = await authorizer.authorizeRoom(token, room, action);
      if (decision.ok) return decision.claims;
      if (!hook || !fallsToHook(decision)) return refuse(decision);
      const allowed = await askHook(c, hook, room, action, token);
      return allowed.ladder === undefined ? undefined : { room, can: undefined, ladder: allowed.ladder };
    },
    async roomFilter(c, opts) {
      const query = opts?.queryToken ? c.req.query("token") : undefined;
      const token = extractToken(c.req.raw.headers, query);
      const filter = await authorizer.roomFilter(token);
      if (typeof filter === "function") return filter;
      if (!hook || !fallsToHook(filter)) return refuse(filter);
      const one = opts?.room;
      const allowed = await askHook(c, hook, one ?? "*", opts?.action ?? "play", token);
      if (one !== undefined) return (room) => room === one;
      const rooms = allowed.rooms;
      return rooms === undefined ? () => true : (room) => rooms.includes(room);
    },
    async admin(c) {
      const decision = authorizer.authorizeAdmin(extractToken(c.req.raw.headers));
      if (!decision.ok) await refuse(decision);
    },
  };
}
