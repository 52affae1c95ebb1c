// What the server asks of its runtime, as plain types: an HTTP listener that calls a fetch function, a UDP socket
// with batched sends, native libraries, file bodies, and the embedded web app. platform/bun.ts implements them for
// Bun (the product), platform/node.ts for Node (vitest runs the server in-process there); platform/index.ts picks
// by runtime. Nothing here knows Hono or the rest of src/.

/** A request in, a response out; `client.ip` is the peer address as the socket sees it. */
export type FetchHandler = (request: Request, client: { ip: string | undefined }) => Response | Promise<Response>;

export interface ListenOptions {
  port: number;
  host: string;
  tls: { cert: string; key: string } | undefined;
  /** Several processes share the port (SO_REUSEPORT): the kernel spreads connections over them. */
  reusePort?: boolean;
  /** Called for an error the fetch function let escape; the client gets a JSON 500. */
  onError(err: unknown): void;
}

export interface HttpListener {
  readonly port: number;
  /** Stops accepting; with force, drops open connections too. */
  stop(force: boolean): Promise<void>;
}

/** What the media socket's kernel buffers were set to; the kernel caps them at net.core.wmem_max / rmem_max. */
export interface SocketBuffers {
  sendBytes: number;
  receiveBytes: number;
}

export interface UdpHandlers {
  onData(data: Buffer, port: number, address: string): void;
  onError(err: Error): void;
}

/** A bound UDP socket. rtc/udpMux.ts's DatagramSocket is this shape. */
export interface UdpSocket {
  readonly port: number;
  /** False when the packet was dropped (the socket's buffer was full). */
  send(data: Uint8Array, port: number, address: string): boolean;
  /** [data, port, address, data, port, address, ...]; returns how many packets went out. */
  sendMany(packets: readonly (Uint8Array | number | string)[]): number;
  close(): void;
  /** The kernel buffers granted, when they could be set. */
  readonly buffers: SocketBuffers | undefined;
}

/** A C function's signature for bun:ffi, by its type names ("ptr", "i32", "u64_fast", "void"...). */
export interface NativeFunction {
  args: readonly string[];
  returns: string;
}

/** A shared library's functions, callable from JS; pointers are plain numbers. */
export interface NativeLibrary<Names extends string> {
  symbols: Record<Names, (...args: (number | null | Uint8Array | Int32Array)[]) => number>;
  /** The address of a buffer's first byte plus offset; stable for the buffer's life (bun:ffi pins it). */
  pointer(buf: Uint8Array | Int32Array, offset?: number): number;
  close(): void;
}

export interface WebFile {
  /** URL path, e.g. "/chunk-1a2b3c.js". */
  path: string;
  body: Uint8Array;
  contentType: string;
  etag: string;
}

/** The web app's files (web/), as the HTTP layer serves them. */
export interface WebAssets {
  /** File names carry content hashes, so browsers may keep them for good (false in development). */
  readonly immutable: boolean;
  /** The one HTML page of the app; the script picks the view from the path. In development, a fresh build. */
  page(): Promise<WebFile>;
  /** A bundled file by URL path, or undefined. */
  file(path: string): WebFile | undefined;
}

export interface Platform {
  readonly name: "bun" | "node";
  serve(fetch: FetchHandler, opts: ListenOptions): Promise<HttpListener>;
  /** Errors (an ICMP unreachable reported on the socket, say) go to onError, never to the event loop. */
  openUdpSocket(host: string, port: number, handlers: UdpHandlers, buffers?: SocketBuffers): Promise<UdpSocket>;
  /** A byte range of a file as a response body (with a Content-Length where the runtime can). */
  fileRangeBody(path: string, start: number, end: number): Promise<BodyInit>;
  /** Raises the JIT's tier-up thresholds this many times; false where the runtime has no such switch. */
  scaleJitTierUp(scale: number): boolean;
  /** The first of `names` that loads with every function; undefined where there is none (or no FFI). */
  loadNativeLibrary<Names extends string>(names: readonly string[], functions: Record<Names, NativeFunction>): NativeLibrary<Names> | undefined;
  /** The web app embedded in the binary (or bundled from source); undefined where the runtime cannot. */
  loadWebAssets(): Promise<WebAssets | undefined>;
}
