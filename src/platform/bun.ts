// Every Bun-only call lives here, so the rest of src/ loads under Node (vitest) unchanged.
import type { FetchHandler, HttpListener, ListenOptions, NativeFunction, NativeLibrary, Platform, SocketBuffers, UdpHandlers, UdpSocket, WebAssets } from "./ports.ts";

const INTERNAL_ERROR = JSON.stringify({ error: "internal server error" });

async function serve(fetch: FetchHandler, opts: ListenOptions): Promise<HttpListener> {
  const server = Bun.serve({
    port: opts.port,
    hostname: opts.host,
    tls: opts.tls,
    reusePort: opts.reusePort === true,
    // The SDP limit is enforced by the routes (413 JSON); this only caps what Bun buffers for any request.
    maxRequestBodySize: 8 * 1024 * 1024,
    fetch(req, srv) {
      return fetch(req, { ip: srv.requestIP(req)?.address });
    },
    error(err) {
      opts.onError(err);
      return new Response(INTERNAL_ERROR, { status: 500, headers: { "Content-Type": "application/json" } });
    },
  });
  return {
    port: server.port ?? opts.port,
    stop: (force) => server.stop(force),
  };
}

/**
 * Raises JavaScriptCore's tier-up thresholds this many times (Bun.unsafe.setJITPolicy). Code that runs a few
 * hundred times per burst of joining viewers (SDP, the DTLS handshake, certificate parsing) then stays in the
 * interpreter and baseline JIT instead of getting optimized machine code it rarely uses, about 5 MB at the first
 * hundred viewers; the forwarding path runs thousands of times a second and is optimized all the same. Returns
 * false where the runtime has no such switch (an older Bun).
 */
function scaleJitTierUp(scale: number): boolean {
  const unsafe = Bun.unsafe as { setJITPolicy?: (scale: number) => void };
  if (typeof unsafe.setJITPolicy !== "function") return false;
  unsafe.setJITPolicy(scale);
  return true;
}

/** A file slice, which Bun sends with sendfile and a Content-Length (a stream body would go out chunked). */
async function fileRangeBody(path: string, start: number, end: number): Promise<BodyInit> {
  return Bun.file(path).slice(start, end + 1);
}

const SOL_SOCKET = 1;
const SO_SNDBUF = 7;
const SO_RCVBUF = 8;

/** Opens the first of `names` that loads and has every function in `functions`, through bun:ffi. */
function loadNativeLibrary<Names extends string>(names: readonly string[], functions: Record<Names, NativeFunction>): NativeLibrary<Names> | undefined {
  // Loaded on first use: bun:ffi exists only under Bun.
  const ffi = require("bun:ffi") as typeof import("bun:ffi");
  for (const name of names) {
    try {
      // bun:ffi takes the type names as strings; its declarations want its own enum.
      const lib = ffi.dlopen(name, functions as unknown as Record<Names, import("bun:ffi").FFIFunction>);
      return {
        symbols: lib.symbols as unknown as NativeLibrary<Names>["symbols"],
        pointer: (buf, offset) => ffi.ptr(buf, offset),
        close: () => lib.close(),
      };
    } catch {
      // Not this name, or not every function in it: try the next.
    }
  }
  return undefined;
}

/**
 * Sets a socket's kernel buffers through libc (Bun's UDP socket has no option for them). Returns what the kernel
 * granted (Linux reports double the bytes, capped by net.core.wmem_max / rmem_max), or undefined without libc.
 */
function setSocketBuffers(fd: number, sendBytes: number, receiveBytes: number): SocketBuffers | undefined {
  const libc = loadNativeLibrary(["libc.so.6", "libc.so", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1"], {
    setsockopt: { args: ["i32", "i32", "i32", "ptr", "u32"], returns: "i32" },
    getsockopt: { args: ["i32", "i32", "i32", "ptr", "ptr"], returns: "i32" },
  });
  if (!libc) return undefined;
  try {
    const value = new Int32Array(1);
    const out = new Int32Array(1);
    const length = new Int32Array([4]);
    const granted = (option: number, bytes: number) => {
      value[0] = bytes;
      libc.symbols.setsockopt(fd, SOL_SOCKET, option, value, 4);
      length[0] = 4;
      libc.symbols.getsockopt(fd, SOL_SOCKET, option, out, length);
      return out[0] as number;
    };
    return { sendBytes: granted(SO_SNDBUF, sendBytes), receiveBytes: granted(SO_RCVBUF, receiveBytes) };
  } catch {
    return undefined;
  } finally {
    libc.close();
  }
}

/** The media socket: a Bun UDP socket, whose sendMany is one sendmmsg for a whole batch. */
async function openUdpSocket(host: string, port: number, handlers: UdpHandlers, buffers?: SocketBuffers): Promise<UdpSocket> {
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
  // Bun declares no fd on its UDP socket, though it has one.
  const fd = (socket as unknown as { fd?: number }).fd;
  const granted = buffers && typeof fd === "number" && fd >= 0 ? setSocketBuffers(fd, buffers.sendBytes, buffers.receiveBytes) : undefined;
  return {
    port: socket.port,
    buffers: granted,
    send: (data, p, address) => socket.send(data, p, address),
    sendMany: (packets) => socket.sendMany(packets),
    close: () => socket.close(),
  };
}

async function loadWebAssets(): Promise<WebAssets> {
  // Imported here only: it imports web/index.html, which only Bun's bundler turns into files.
  return (await import("./webAssets.ts")).loadWebAssets();
}

export const bunPlatform: Platform = { name: "bun", serve, openUdpSocket, fileRangeBody, scaleJitTierUp, loadNativeLibrary, loadWebAssets };
