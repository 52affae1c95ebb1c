// POST/GET /api/admin/captures, GET/DELETE /api/admin/captures/{id}, POST /api/admin/captures/{id}/stop: stats
// captures of a room (src/captures/), behind ADMIN_TOKEN like every admin route. Ids that are not the server's own
// (a pattern, and the folder's listing) are 404, whatever they try to name.
import type { Hono } from "hono";
import type { Captures } from "../../captures/captures.ts";
import { methodNotAllowed } from "../errors.ts";
import type { AuthGuard } from "../middleware/auth.ts";
import { captureOps } from "../openapi/operations.ts";
import { CaptureStart } from "../openapi/schemas.ts";
import { body } from "../validate.ts";
import type { AppEnv } from "../types.ts";

const BASE = "/api/admin/captures";

export function captureRoutes(app: Hono<AppEnv>, captures: Captures, guard: AuthGuard): void {
  app.get(BASE, ...captureOps.list, async (c) => {
    await guard.admin(c);
    return c.json(await captures.list());
  });

  app.post(BASE, ...captureOps.start, async (c) => {
    await guard.admin(c);
    const { room, maxSeconds } = await body(c, CaptureStart);
    const started = await captures.start(room, maxSeconds);
    c.header("Location", `${BASE}/${started.id}`);
    return c.json(started, 201);
  });

  app.get(`${BASE}/:id`, ...captureOps.get, async (c) => {
    await guard.admin(c);
    const id = c.req.param("id");
    const json = await captures.json(id);
    const headers: Record<string, string> = { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store" };
    // The id is the strict pattern by now: nothing in it needs quoting.
    if (c.req.query("download") !== undefined) headers["Content-Disposition"] = `attachment; filename="capture-${id}.json"`;
    return c.body(json, 200, headers);
  });

  app.post(`${BASE}/:id/stop`, ...captureOps.stop, async (c) => {
    await guard.admin(c);
    return c.json(await captures.stop(c.req.param("id")), 200);
  });

  app.delete(`${BASE}/:id`, ...captureOps.remove, async (c) => {
    await guard.admin(c);
    const id = c.req.param("id");
    await captures.remove(id);
    return c.json({ deleted: id }, 200);
  });

  app.on(["PUT", "PATCH", "DELETE"], BASE, methodNotAllowed("GET, POST"));
  app.on(["PUT", "PATCH", "POST"], `${BASE}/:id`, methodNotAllowed("GET, DELETE"));
  app.on(["GET", "PUT", "PATCH", "DELETE"], `${BASE}/:id/stop`, methodNotAllowed("POST"));
}
