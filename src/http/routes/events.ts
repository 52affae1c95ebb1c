// GET /api/events: server-sent events for the web app (room opened/closed, viewer counts, per-room stats each
// second). Auth as GET /api/rooms, plus `?token=` because EventSource cannot send headers; `?room=` narrows the
// stream to one room.
import type { Hono } from "hono";
import type { HubEvent } from "../../api.ts";
import type { AuthGuard } from "../middleware/auth.ts";
import { roomOps } from "../openapi/operations.ts";
import type { AppDeps, AppEnv } from "../types.ts";
import { roomParam } from "./sessions.ts";

/** A comment line this often keeps idle streams open through Bun's idle timeout (10 s) and proxies. */
const KEEPALIVE_MS = 5000;
/** Chunks a client may leave unread before it is dropped: a stalled reader must not grow the server's memory. */
const MAX_QUEUED_CHUNKS = 256;

const encoder = new TextEncoder();

function formatEvent(e: HubEvent): string {
  return `event: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`;
}

export function eventRoutes(app: Hono<AppEnv>, deps: AppDeps, guard: AuthGuard): void {
  const hub = deps.events;

  app.get("/api/events", ...roomOps.events, async (c) => {
    const onlyRaw = c.req.query("room");
    const only = onlyRaw === undefined ? undefined : roomParam(onlyRaw);
    const visible = await guard.roomFilter(c, { queryToken: true, room: only });
    const filter = only === undefined ? visible : (room: string) => room === only && visible(room);
    const signal = c.req.raw.signal;

    let cleanup = () => undefined as void;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        let done = false;
        const write = (text: string) => {
          if (done) return;
          if ((controller.desiredSize ?? 0) < -MAX_QUEUED_CHUNKS) {
            deps.log.debug("events client not reading; dropped");
            cleanup();
            return;
          }
          controller.enqueue(encoder.encode(text));
        };
        // Browsers reconnect after this many ms when the stream drops.
        write("retry: 3000\n\n");
        const unsubscribe = hub.subscribe({ visible: filter, send: (e) => write(formatEvent(e)), end: () => cleanup() });
        const ping = setInterval(() => write(": ping\n\n"), KEEPALIVE_MS);
        ping.unref?.();
        const onAbort = () => cleanup();
        cleanup = () => {
          if (done) return;
          done = true;
          clearInterval(ping);
          unsubscribe();
          signal.removeEventListener("abort", onAbort);
          try {
            controller.close();
          } catch {
            // Already closed or errored by the consumer going away.
          }
        };
        if (signal.aborted) cleanup();
        else signal.addEventListener("abort", onAbort);
      },
      cancel() {
        cleanup();
      },
    });
    return c.body(body, 200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-cache, no-transform",
      // nginx buffers responses unless told not to; events must reach the page at once.
      "X-Accel-Buffering": "no",
    });
  });
}
