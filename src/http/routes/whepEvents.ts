// The WHEP server-sent events extension (draft-ietf-wish-whep-02): the 201 of a play links
// `<{Location}/events>; rel="urn:ietf:params:whep:ext:core:server-sent-events"; events="..."`. The player POSTs
// the JSON list of events it wants there and gets 201 with the stream's Location, `{Location}/events/{stream}`,
// which it long-pulls (GET, text/event-stream) and may DELETE. The POST is authorized as the session's other URLs;
// the stream's URL is a secret of its own, as the session's is, because EventSource cannot send a token.
import type { Context, Hono } from "hono";
import type { Room } from "../../room/room.ts";
import type { ViewerSession } from "../../room/viewer.ts";
import type { WhepEventsHub } from "../../room/whepEvents.ts";
import { WHEP_EVENT_TYPES } from "../../room/whepFeed.ts";
import { methodNotAllowed, notFound } from "../errors.ts";
import type { AuthGuard } from "../middleware/auth.ts";
import { whepEventOps } from "../openapi/operations.ts";
import { WhepEventList } from "../openapi/schemas.ts";
import { body } from "../validate.ts";
import { forwardToSessionOwner } from "../forwarding.ts";
import { formatSse, SSE_HEADERS, sseStream } from "../sse.ts";
import type { AppDeps, AppEnv } from "../types.ts";
import { roomParam, WHEP } from "./sessions.ts";

const STREAM_ID = /^[0-9a-f]{32}$/;

function viewerOf(deps: AppDeps, c: Context, room: string): { session: ViewerSession; room: Room } {
  const entry = deps.registry.session(c.req.param("session") ?? "");
  if (!entry || entry.room.name !== room || entry.session.kind !== "viewer" || entry.session.closed) throw notFound("session not found");
  return { session: entry.session, room: entry.room };
}

export function whepEventRoutes(app: Hono<AppEnv>, deps: AppDeps, hub: WhepEventsHub, guard: AuthGuard): void {
  const base = `${WHEP.base}/:room/:session/events`;

  app.post(base, ...whepEventOps.create, async (c) => {
    const room = roomParam(c.req.param("room"));
    await guard.room(c, room, WHEP.action);
    const forwarded = await forwardToSessionOwner(c, deps);
    if (forwarded) return forwarded;
    const { session } = viewerOf(deps, c, room);
    const listed = await body(c, WhepEventList);
    // The player's subset, in the server's order and once each.
    const events = listed === undefined ? undefined : WHEP_EVENT_TYPES.filter((t) => listed.includes(t));
    const id = hub.create(session, room, events ?? WHEP_EVENT_TYPES);
    const location = `${WHEP.base}/${room}/${session.id}/events/${id}`;
    c.header("Location", location);
    return c.json({ location, events: events ?? [...WHEP_EVENT_TYPES] }, 201);
  });

  const streamOf = (c: Context) => {
    const room = roomParam(c.req.param("room"));
    const { session } = viewerOf(deps, c, room);
    const id = c.req.param("stream") ?? "";
    if (!STREAM_ID.test(id) || !hub.has(id, session.id)) throw notFound("event stream not found");
    return id;
  };

  app.get(`${base}/:stream`, ...whepEventOps.stream, async (c) => {
    const forwarded = await forwardToSessionOwner(c, deps);
    if (forwarded) return forwarded;
    const id = streamOf(c);
    const body = sseStream(
      c.req.raw.signal,
      (writer) => {
        const detach = hub.attach(id, {
          send: (e) => void writer.write(formatSse(e.type, e.data)),
          end: () => writer.end(),
        });
        if (!detach) writer.end();
        return () => detach?.();
      },
      () => deps.log.debug("WHEP events client not reading; dropped"),
    );
    return c.body(body, 200, SSE_HEADERS);
  });

  app.delete(`${base}/:stream`, ...whepEventOps.remove, async (c) => {
    const forwarded = await forwardToSessionOwner(c, deps);
    if (forwarded) return forwarded;
    const id = streamOf(c);
    hub.remove(id);
    return c.json({ ok: true }, 200);
  });

  app.on(["GET", "PUT", "PATCH", "DELETE"], base, methodNotAllowed("POST, OPTIONS"));
  app.on(["POST", "PUT", "PATCH"], `${base}/:stream`, methodNotAllowed("GET, DELETE, OPTIONS"));
}
