// Every Bun-only call lives here, so the rest of src/ loads under Node (vitest) unchanged.
import type { Hono } from "hono";
import type { AppEnv } from "../http/types.ts";

export interface ServeOptions {
  port: number;
  host: string;
  tls: { cert: string; key: string } | undefined;
}

export interface RunningServer {
  port: number;
  /** Stops accepting; with force, drops open connections too. */
  stop(force: boolean): Promise<void>;
}

export function serve(app: Hono<AppEnv>, opts: ServeOptions): RunningServer {
  const server = Bun.serve({
    port: opts.port,
    hostname: opts.host,
    tls: opts.tls,
    // The SDP limit is enforced by the routes (413 JSON); this only caps what Bun buffers for any request.
    maxRequestBodySize: 8 * 1024 * 1024,
    fetch(req, srv) {
      return app.fetch(req, { ip: srv.requestIP(req)?.address });
    },
    error(err) {
      return new Response(JSON.stringify({ error: "internal server error" }), {
        status: 500,
        headers: { "Content-Type": "application/json" },
      });
      void err;
    },
  });
  return {
    port: server.port ?? opts.port,
    stop: (force) => server.stop(force),
  };
}

/**
 * A byte range of a file as a response body. Under Bun a file slice, which Bun sends with sendfile and a
 * Content-Length (a stream body would go out chunked, without one); elsewhere (Node, in tests) a file stream.
 */
export async function fileRangeBody(path: string, start: number, end: number): Promise<BodyInit> {
  if (typeof Bun !== "undefined") return Bun.file(path).slice(start, end + 1);
  const [{ createReadStream }, { Readable }] = await Promise.all([import("node:fs"), import("node:stream")]);
  // Node's web stream type and the DOM one differ only in their declarations.
  return Readable.toWeb(createReadStream(path, { start, end })) as unknown as ReadableStream<Uint8Array>;
}
