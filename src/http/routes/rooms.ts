// GET /api/rooms, GET /api/rooms/{room}, POST /api/admin/rooms/{room}/close. In a cluster they show and close the
// cluster's rooms from any node (docs/cluster.md, "One view"): the list from every node's presence, a room's
// details from its origin, an admin close through the bus.
import type { Context, Hono } from "hono";
import type { RoomClosed, RoomDetails, RoomSummary } from "../../api.ts";
import { DirectoryUnavailableError } from "../../cluster/directory.ts";
import type { ClusterNode } from "../../node/clusterNode.ts";
import { relayAnswer, requestNode } from "../../node/forward.ts";
import { notFound } from "../errors.ts";
import type { AuthGuard } from "../middleware/auth.ts";
import { clusterPeer } from "../middleware/clusterAuth.ts";
import { roomOps } from "../openapi/operations.ts";
import type { AppDeps, AppEnv } from "../types.ts";
import { roomParam } from "./sessions.ts";

/** Says on an answer built without the directory (unreachable) that it shows this node's rooms only. */
const CLUSTER_HEADER = "X-Roomcast-Cluster";

/** The cluster in play: a server on its own, and a request from another node, are answered from here alone. */
function clusterFor(c: Context, deps: AppDeps): ClusterNode | undefined {
  const cluster = deps.cluster;
  return cluster && !cluster.standalone && clusterPeer(c) === undefined ? cluster : undefined;
}

export function roomRoutes(app: Hono<AppEnv>, deps: AppDeps, guard: AuthGuard): void {
  app.get("/api/rooms", ...roomOps.list, async (c) => {
    const visible = await guard.roomFilter(c);
    const cluster = clusterFor(c, deps);
    let rooms: RoomSummary[];
    try {
      rooms = cluster
        ? (await cluster.rooms()).map(({ name, hasPublisher, tracks, subscribers }) => ({ name, hasPublisher, tracks, subscribers }))
        : deps.registry.list();
    } catch (err) {
      if (!(err instanceof DirectoryUnavailableError)) throw err;
      // The node keeps serving its own rooms while the directory is away, and says so.
      c.header(CLUSTER_HEADER, "detached");
      rooms = deps.registry.list();
    }
    return c.json(rooms.filter((r) => visible(r.name)));
  });

  app.get("/api/rooms/:room", ...roomOps.details, async (c) => {
    const name = roomParam(c.req.param("room"));
    await guard.room(c, name, "play");
    const room = deps.registry.get(name);
    const cluster = clusterFor(c, deps);
    if (!cluster) {
      if (!room) throw notFound("room not found");
      const details: RoomDetails = room.details();
      return c.json(details);
    }
    let view;
    try {
      view = await cluster.room(name);
    } catch (err) {
      if (!(err instanceof DirectoryUnavailableError) || !room) throw err;
      c.header(CLUSTER_HEADER, "detached");
      return c.json(room.details());
    }
    if (!view || view.origin === null) throw notFound("room not found");
    let details: RoomDetails;
    if (view.origin === cluster.id && room) {
      details = room.details();
    } else {
      // Another node's room: its details as its origin gives them.
      const origin = await cluster.node(view.origin);
      if (!origin) throw notFound("room not found");
      const res = await requestNode(origin.url, { method: "GET", path: `/api/rooms/${name}`, token: await cluster.token() });
      if (res.status !== 200) return relayAnswer(res);
      details = (await res.json()) as RoomDetails;
    }
    // Viewers everywhere, and where they are: relay sessions are not viewers.
    const body: RoomDetails = { ...details, subscribers: view.subscribers, nodes: view.nodes };
    return c.json(body);
  });

  app.post("/api/admin/rooms/:room/close", ...roomOps.close, async (c) => {
    await guard.admin(c);
    const name = roomParam(c.req.param("room"));
    const reason = "closed by admin";
    const cluster = clusterFor(c, deps);
    const closed = cluster ? await cluster.closeRoom(name, reason) : deps.registry.closeRoom(name, reason);
    if (!closed) throw notFound("room not found");
    deps.log.info({ room: name }, "room closed by admin");
    const body: RoomClosed = { closed: name };
    return c.json(body, 200);
  });
}
