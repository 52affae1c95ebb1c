// POST/GET /api/admin/captures, GET/DELETE /api/admin/captures/{id}, POST /api/admin/captures/{id}/stop: stats
// captures of a room (src/captures/), behind ADMIN_TOKEN like every admin route. Ids that are not the server's own
// (a pattern, and the folder's listing) are 404, whatever they try to name.
import type { Context, Hono } from "hono";
import type { Captures } from "../../captures/captures.ts";
import { ROOM_NAME } from "../../config.ts";
import { badRequest, HttpError, invalidRoomName, payloadTooLarge } from "../errors.ts";
import type { AuthGuard } from "../middleware/auth.ts";
import type { AppEnv } from "../types.ts";

const BASE = "/api/admin/captures";
const MAX_BODY_BYTES = 4096;

/** The body of a start: `{room, maxSeconds?}`. */
export function parseStart(body: unknown): { room: string; maxSeconds: number | undefined } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw badRequest('body must be a JSON object like {"room": "demo", "maxSeconds": 600}');
  const { room, maxSeconds } = body as Record<string, unknown>;
  if (typeof room !== "string" || !ROOM_NAME.test(room)) throw invalidRoomName();
  if (maxSeconds !== undefined && (typeof maxSeconds !== "number" || !Number.isInteger(maxSeconds))) throw badRequest('"maxSeconds" must be a whole number');
  return { room, maxSeconds: maxSeconds as number | undefined };
}

async function readJson(c: Context): Promise<unknown> {
  if (Number(c.req.header("content-length") ?? "0") > MAX_BODY_BYTES) throw payloadTooLarge();
  const text = await c.req.text();
  if (text.length > MAX_BODY_BYTES) throw payloadTooLarge();
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest('body must be JSON like {"room": "demo", "maxSeconds": 600}');
  }
}

export function captureRoutes(app: Hono<AppEnv>, captures: Captures, guard: AuthGuard): void {
  app.get(BASE, async (c) => {
    await guard.admin(c);
    return c.json(await captures.list());
  });

  app.post(BASE, async (c) => {
    await guard.admin(c);
    const { room, maxSeconds } = parseStart(await readJson(c));
    const started = await captures.start(room, maxSeconds);
    c.header("Location", `${BASE}/${started.id}`);
    return c.json(started, 201);
  });

  app.get(`${BASE}/:id`, async (c) => {
    await guard.admin(c);
    const id = c.req.param("id");
    const json = await captures.json(id);
    const headers: Record<string, string> = { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store" };
    // The id is the strict pattern by now: nothing in it needs quoting.
    if (c.req.query("download") !== undefined) headers["Content-Disposition"] = `attachment; filename="capture-${id}.json"`;
    return c.body(json, 200, headers);
  });

  app.post(`${BASE}/:id/stop`, async (c) => {
    await guard.admin(c);
    return c.json(await captures.stop(c.req.param("id")), 200);
  });

  app.delete(`${BASE}/:id`, async (c) => {
    await guard.admin(c);
    const id = c.req.param("id");
    await captures.remove(id);
    return c.json({ deleted: id }, 200);
  });

  const notAllowed = (allow: string) => () => {
    throw new HttpError(405, "method not allowed", { Allow: allow });
  };
  app.on(["PUT", "PATCH", "DELETE"], BASE, notAllowed("GET, POST"));
  app.on(["PUT", "PATCH", "POST"], `${BASE}/:id`, notAllowed("GET, DELETE"));
  app.on(["GET", "PUT", "PATCH", "DELETE"], `${BASE}/:id/stop`, notAllowed("POST"));
}
