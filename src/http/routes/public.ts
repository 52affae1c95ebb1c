// GET /healthz, GET /api/health, GET /metrics, GET /api/bootstrap: public by design, for probes, scrapers and the
// web app.
import type { Hono } from "hono";
import type { Bootstrap, Health } from "../../api.ts";
import type { RoomRegistry } from "../../room/registry.ts";
import { publicOps } from "../openapi/operations.ts";
import type { AppDeps, AppEnv } from "../types.ts";

export function healthOf(registry: Pick<RoomRegistry, "rooms">, startedAt: number, now: number, version: string): Health {
  let rooms = 0;
  let viewers = 0;
  for (const room of registry.rooms()) {
    if (room.closed) continue;
    rooms++;
    viewers += room.viewers.size;
  }
  return { status: "ok", uptime: Math.max(0, Math.floor((now - startedAt) / 1000)), rooms, viewers, version };
}

export function publicRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  // The app is made as its server starts.
  const startedAt = Date.now();
  // Still "ok" when the cluster directory is away (the node serves its own rooms); the header says how it stands.
  app.get("/healthz", ...publicOps.healthz, (c) => {
    c.header("X-Roomcast-Cluster", deps.cluster?.status ?? "standalone");
    return c.text("ok");
  });
  app.get("/api/health", ...publicOps.health, (c) => {
    const health: Health = healthOf(deps.registry, startedAt, Date.now(), deps.version);
    // In a cluster only: a server on its own keeps the single-server shape.
    const cluster = deps.cluster;
    const node = cluster?.shownId;
    if (cluster && node !== undefined) {
      health.node = node;
      health.cluster = cluster.status === "joined" ? "joined" : "detached";
    }
    return c.json(health);
  });

  app.get("/metrics", ...publicOps.metrics, async (c) => {
    const { contentType, body } = await deps.metrics.render();
    return c.body(body, 200, { "Content-Type": contentType });
  });

  app.get("/api/bootstrap", ...publicOps.bootstrap, async (c) => {
    const body: Bootstrap = {
      authEnabled: deps.authorizer.enabled,
      recordEnabled: deps.config.recordEnabled,
      iceServers: deps.config.iceServers,
      features: {
        rooms: true,
        records: deps.config.recordEnabled,
        // Which encoder transcoding uses and why, the default ladder, and the ffmpeg it runs (the server always
        // has the service; app tests built without it keep the reference's shape).
        ...(deps.transcode ? { transcode: await deps.transcode.status() } : {}),
      },
      version: deps.version,
    };
    return c.json(body);
  });
}
