// The platform ports on Node, where vitest runs the server in-process: HTTP through node:http with Hono's own
// Node adapter (@hono/node-server) calling the plain fetch function, UDP through node:dgram (sendMany is a loop of
// sends), and neither FFI nor the embedded web app (both Bun-only: their callers keep a path without them).
import dgram from "node:dgram";
import { createReadStream } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { getRequestListener } from "@hono/node-server";
import type { FetchHandler, HttpListener, ListenOptions, Platform, SocketBuffers, UdpHandlers, UdpSocket } from "./ports.ts";

const INTERNAL_ERROR = JSON.stringify({ error: "internal server error" });

async function serve(fetch: FetchHandler, opts: ListenOptions): Promise<HttpListener> {
  const listener = getRequestListener(
    async (req, env) => {
      try {
        return await fetch(req, { ip: (env.incoming as IncomingMessage).socket.remoteAddress });
      } catch (err) {
        opts.onError(err);
        return new Response(INTERNAL_ERROR, { status: 500, headers: { "Content-Type": "application/json" } });
      }
    },
    // The standard Request and Response, as under Bun: the adapter's lighter ones are an optimization we skip.
    { overrideGlobalObjects: false },
  );
  const handler = listener as (req: IncomingMessage, res: ServerResponse) => void;
  const server = opts.tls ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, handler) : createHttpServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    // Node 20 has no SO_REUSEPORT for TCP; reusePort is for the product's workers, which run under Bun.
    server.listen({ port: opts.port, host: opts.host }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    stop: (force) =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        if (force) server.closeAllConnections();
        else server.closeIdleConnections();
      }),
  };
}

async function fileRangeBody(path: string, start: number, end: number): Promise<BodyInit> {
  // Node's web stream type and the DOM one differ only in their declarations.
  return Readable.toWeb(createReadStream(path, { start, end })) as unknown as ReadableStream<Uint8Array>;
}

async function openUdpSocket(host: string, port: number, handlers: UdpHandlers, buffers?: SocketBuffers): Promise<UdpSocket> {
  const socket = dgram.createSocket({ type: "udp4", sendBufferSize: buffers?.sendBytes, recvBufferSize: buffers?.receiveBytes });
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(port, host, () => {
      socket.off("error", reject);
      resolve();
    });
  });
  socket.on("message", (data, rinfo) => handlers.onData(data, rinfo.port, rinfo.address));
  socket.on("error", (err) => handlers.onError(err));
  let closed = false;
  // Sends complete later; an error (a client gone) is reported as the socket's, as Bun does.
  const sent = (err: Error | null) => {
    if (err && !closed) handlers.onError(err);
  };
  const send = (data: Uint8Array, p: number, address: string): boolean => {
    if (closed) return false;
    // A copy: node:dgram keeps the bytes it was given until libuv has sent them, and the mux reuses its buffers
    // at the next batch.
    socket.send(Buffer.from(data), p, address, sent);
    return true;
  };
  let granted: SocketBuffers | undefined;
  if (buffers) granted = { sendBytes: socket.getSendBufferSize(), receiveBytes: socket.getRecvBufferSize() };
  return {
    port: socket.address().port,
    buffers: granted,
    send,
    sendMany(packets) {
      let n = 0;
      for (let i = 0; i + 2 < packets.length; i += 3) if (send(packets[i] as Uint8Array, packets[i + 1] as number, packets[i + 2] as string)) n++;
      return n;
    },
    close() {
      if (closed) return;
      closed = true;
      socket.close();
    },
  };
}

export const nodePlatform: Platform = {
  name: "node",
  serve,
  openUdpSocket,
  fileRangeBody,
  scaleJitTierUp: () => false,
  loadNativeLibrary: () => undefined,
  loadWebAssets: async () => undefined,
};
