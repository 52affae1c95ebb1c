// POST /api/whip/publish/{room}, POST /api/whep/play/{room}, and DELETE on the session URLs they hand out.
import type { Hono } from "hono";
import { invalidRoomName, notFound } from "../../errors.ts";
import { ROOM_NAME } from "../../config.ts";
import type { RoomAction } from "../../auth/authorizer.ts";
import type { AuthGuard } from "../middleware/auth.ts";
import { readOffer } from "../sdpBody.ts";
import type { AppDeps, AppEnv } from "../types.ts";

interface Endpoint {
  base: string;
  action: RoomAction;
  kind: "publisher" | "viewer";
}

export const WHIP: Endpoint = { base: "/api/whip/publish", action: "publish", kind: "publisher" };
export const WHEP: Endpoint = { base: "/api/whep/play", action: "play", kind: "viewer" };

export function roomParam(raw: string | undefined): string {
  if (raw === undefined || !ROOM_NAME.test(raw)) throw invalidRoomName();
  return raw;
}

export function sessionRoutes(app: Hono<AppEnv>, deps: AppDeps, guard: AuthGuard, ep: Endpoint): void {
  app.post(`${ep.base}/:room`, async (c) => {
    const room = roomParam(c.req.param("room"));
    await guard.room(c, room, ep.action);
    const { sdp, offer } = await readOffer(c);
    const { session, answer } =
      ep.kind === "publisher" ? await deps.registry.publish(room, offer, sdp) : await deps.registry.play(room, offer, sdp);
    session.log.info({ codecs: session.codecs.map((x) => x.mimeType), ip: c.env?.ip }, `${ep.kind} session created`);
    c.header("Location", `${ep.base}/${room}/${session.id}`);
    c.header("Content-Type", "application/sdp");
    return c.body(answer, 201);
  });

  app.delete(`${ep.base}/:room/:session`, async (c) => {
    const room = roomParam(c.req.param("room"));
    await guard.room(c, room, ep.action);
    const entry = deps.registry.session(c.req.param("session"));
    if (!entry || entry.room.name !== room || entry.session.kind !== ep.kind) throw notFound("session not found");
    deps.registry.endSession(entry.session.id, "DELETE by client");
    return c.json({ ok: true }, 200);
  });
}
