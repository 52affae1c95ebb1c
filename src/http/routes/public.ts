// GET /healthz, GET /metrics, GET /api/bootstrap: public by design, for probes, scrapers and the web app.
import type { Hono } from "hono";
import type { Bootstrap } from "../../api.ts";
import type { AppDeps, AppEnv } from "../types.ts";

export function publicRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  // Still "ok" when the cluster directory is away (the node serves its own rooms); the header says how it stands.
  app.get("/healthz", (c) => {
    c.header("X-Roomcast-Cluster", deps.cluster?.status ?? "standalone");
    return c.text("ok");
  });

  app.get("/metrics", async (c) => {
    const { contentType, body } = await deps.metrics.render();
    return c.body(body, 200, { "Content-Type": contentType });
  });

  app.get("/api/bootstrap", async (c) => {
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
