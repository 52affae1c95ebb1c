import type { Context } from "hono";
import { extractToken, type AuthDecision, type Authorizer, type RoomAction, type RoomClaims } from "../../auth/authorizer.ts";
import { HttpError } from "../errors.ts";
import type { Metrics } from "../../metrics/metrics.ts";

export interface AuthGuard {
  /** Resolves with the JWT claims (if any) or throws 401/403 after the fixed delay. Runs before the body is read. */
  room(c: Context, room: string, action: RoomAction): Promise<RoomClaims | undefined>;
  admin(c: Context): Promise<void>;
  /**
   * For listings: a predicate over room names, or 401 after the fixed delay. `queryToken` also accepts `?token=`,
   * for clients that cannot set headers (EventSource).
   */
  roomFilter(c: Context, opts?: { queryToken?: boolean }): Promise<(room: string) => boolean>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function authGuard(authorizer: Authorizer, metrics: Metrics, failDelayMs: number): AuthGuard {
  // A failed answer always waits the same time, so a client cannot try tokens quickly or time the compare.
  async function refuse(decision: Extract<AuthDecision, { ok: false }>): Promise<never> {
    metrics.authFailures.labels(String(decision.status)).inc();
    await sleep(failDelayMs);
    throw new HttpError(decision.status, decision.status === 401 ? "unauthorized" : `forbidden: ${decision.reason}`);
  }
  return {
    async room(c, room, action) {
      const decision = await authorizer.authorizeRoom(extractToken(c.req.raw.headers), room, action);
      if (!decision.ok) return refuse(decision);
      return decision.claims;
    },
    async roomFilter(c, opts) {
      const query = opts?.queryToken ? c.req.query("token") : undefined;
      const filter = await authorizer.roomFilter(extractToken(c.req.raw.headers, query));
      if (typeof filter !== "function") return refuse(filter);
      return filter;
    },
    async admin(c) {
      const decision = authorizer.authorizeAdmin(extractToken(c.req.raw.headers));
      if (!decision.ok) await refuse(decision);
    },
  };
}
