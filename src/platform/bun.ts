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

export interface UdpHandlers {
  onData(data: Buffer, port: number, address: string): void;
  onError(err: Error): void;
}

/**
 * The media socket: a Bun UDP socket, whose sendMany is one sendmmsg for a whole batch. Errors (an ICMP
 * unreachable reported on the socket, say) are handed to onError and never thrown at the event loop.
 */
export async function openUdpSocket(host: string, port: number, handlers: UdpHandlers): Promise<import("../rtc/udpMux.ts").DatagramSocket> {
  const socket = await Bun.udpSocket({
    hostname: host,
    port,
    binaryType: "buffer",
    socket: {
      data(_s, data, remotePort, address) {
        handlers.onData(data, remotePort, address);
      },
      // Bun 1.4 calls this with the error alone, though its declarations put the socket first.
      error(...args: unknown[]) {
        const err = args.find((a): a is Error => a instanceof Error);
        handlers.onError(err ?? new Error(String(args[args.length - 1])));
      },
    },
  });
  return {
    port: socket.port,
    send: (data, p, address) => socket.send(data, p, address),
    sendMany: (packets) => socket.sendMany(packets),
    close: () => socket.close(),
  };
}
