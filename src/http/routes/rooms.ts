// GET /api/rooms, GET /api/rooms/{room}, POST /api/admin/rooms/{room}/close.
import type { Hono } from "hono";
import type { RoomClosed, RoomDetails, RoomSummary } from "../../api.ts";
import { notFound } from "../errors.ts";
import type { AuthGuard } from "../middleware/auth.ts";
import { roomOps } from "../openapi/operations.ts";
import type { AppDeps, AppEnv } from "../types.ts";
import { roomParam } from "./sessions.ts";

export function roomRoutes(app: Hono<AppEnv>, deps: AppDeps, guard: AuthGuard): void {
  app.get("/api/rooms", ...roomOps.list, async (c) => {
    const visible = await guard.roomFilter(c);
    const rooms: RoomSummary[] = deps.registry.list().filter((r) => visible(r.name));
    return c.json(rooms);
  });

  app.get("/api/rooms/:room", ...roomOps.details, async (c) => {
    const name = roomParam(c.req.param("room"));
    await guard.room(c, name, "play");
    const room = deps.registry.get(name);
    if (!room) throw notFound("room not found");
    const details: RoomDetails = room.details();
    return c.json(details);
  });

  app.post("/api/admin/rooms/:room/close", ...roomOps.close, async (c) => {
    await guard.admin(c);
    const name = roomParam(c.req.param("room"));
    if (!deps.registry.closeRoom(name, "closed by admin")) throw notFound("room not found");
    deps.log.info({ room: name }, "room closed by admin");
    const closed: RoomClosed = { closed: name };
    return c.json(closed, 200);
  });
}
