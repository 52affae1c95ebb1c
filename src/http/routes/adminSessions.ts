// GET /api/admin/sessions, DELETE /api/admin/sessions/{id}: every WHIP/WHEP session with its counters, and the
// admin's way to end one by its public id (as a DELETE on its Location would). Behind ADMIN_TOKEN.
import type { Hono } from "hono";
import type { AdminSession, AdminSessionClosed } from "../../api.ts";
import { adminSessionOf } from "../../room/sessionList.ts";
import { methodNotAllowed, notFound } from "../errors.ts";
import { adminSessionOps } from "../openapi/operations.ts";
import type { AuthGuard } from "../middleware/auth.ts";
import type { AppDeps, AppEnv } from "../types.ts";

const BASE = "/api/admin/sessions";

export function adminSessionRoutes(app: Hono<AppEnv>, deps: AppDeps, guard: AuthGuard): void {
  app.get(BASE, ...adminSessionOps.list, async (c) => {
    await guard.admin(c);
    const sessions: AdminSession[] = deps.registry
      .sessions()
      .filter((e) => !e.session.closed)
      .map((e) => adminSessionOf(e.session, e.room));
    return c.json(sessions);
  });

  app.delete(`${BASE}/:id`, ...adminSessionOps.remove, async (c) => {
    await guard.admin(c);
    const id = c.req.param("id");
    const entry = deps.registry.sessions().find((e) => e.session.publicId === id && !e.session.closed);
    if (!entry || !deps.registry.endSession(entry.session.id, "closed by admin")) throw notFound("session not found");
    deps.log.info({ room: entry.room.name, session: id, kind: entry.session.kind }, "session closed by admin");
    const closed: AdminSessionClosed = { closed: id };
    return c.json(closed, 200);
  });

  app.on(["POST", "PUT", "PATCH", "DELETE"], BASE, methodNotAllowed("GET"));
  app.on(["GET", "POST", "PUT", "PATCH"], `${BASE}/:id`, methodNotAllowed("DELETE"));
}
