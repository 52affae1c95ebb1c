// Where werift meets the UDP mux: its per-peer sockets are replaced by mux transports, each ICE agent's
// credentials are registered so the mux can route to it, and the forwarding path learns where a peer's media goes.
//
// werift makes its sockets through one process-wide static (UdpTransport.init), called while a peer gathers. So
// the replacement is installed once per process, and picks the mux from the negotiation that is gathering
// (useMux, an AsyncLocalStorage scope): each Server's peers get their own server's mux, and werift peers that are
// not a server's (a test's clients in the same process) keep werift's own sockets.
import { AsyncLocalStorage } from "node:async_hooks";
import type { RTCPeerConnection } from "werift";
import { MuxTransport, type UdpMux } from "./udpMux.ts";
import { iceConnectionOf, iceConnections, udpTransportClass } from "./weriftInternals.ts";

export interface MediaTarget {
  transport: MuxTransport;
  address: string;
  port: number;
}

/**
 * From now on werift's ICE agents get their IPv4 UDP transports from `make` where it returns one; elsewhere (and
 * for IPv6, off in roomcast) werift's own sockets. Returns the undo. The benchmark's viewers use it too, with a
 * socket each.
 */
export function replaceUdp4Transports(make: () => Promise<unknown> | undefined): () => void {
  const cls = udpTransportClass();
  const original = cls.init.bind(cls);
  cls.init = (type: string, options?: unknown) => (type === "udp4" ? make() : undefined) ?? original(type, options);
  return () => {
    cls.init = original;
  };
}

const scope = new AsyncLocalStorage<UdpMux>();
let dispatching = false;

/**
 * Runs `fn` (a negotiation or an ICE restart) with the transports werift gathers in it taken from `mux`. Without
 * a mux, werift's own sockets.
 */
export function useMux<T>(mux: UdpMux | undefined, fn: () => Promise<T>): Promise<T> {
  if (mux === undefined) return fn();
  if (!dispatching) {
    dispatching = true;
    replaceUdp4Transports(() => {
      const current = scope.getStore();
      return current && !current.closed ? Promise.resolve(current.createTransport()) : undefined;
    });
  }
  return scope.run(mux, fn);
}

/**
 * Tells the mux which transport answers to this peer's ICE credentials. Called after each negotiation and ICE
 * restart, once werift knows both ufrags and has gathered.
 */
export function registerIceCredentials(pc: RTCPeerConnection): void {
  for (const c of iceConnections(pc)) {
    if (!c.remoteUsername) continue;
    const transport = c.protocols.map((p) => p.transport).find((t): t is MuxTransport => t instanceof MuxTransport);
    transport?.mux.bindUsername(c.localUsername, c.remoteUsername, transport);
  }
}

/**
 * Where this peer's media goes now: the nominated pair's remote address on a mux transport. With `dtlsTransport`
 * (a sender's), the pair of that transport's own ICE agent: a peer that bundles nothing has one per section.
 */
export function mediaTarget(pc: RTCPeerConnection, dtlsTransport?: unknown): MediaTarget | undefined {
  const own = iceConnectionOf(dtlsTransport);
  for (const c of own === undefined ? iceConnections(pc) : [own]) {
    const pair = c.nominated;
    const transport = pair?.protocol.transport;
    if (pair && transport instanceof MuxTransport && !transport.closed) {
      return { transport, address: pair.remoteAddr[0], port: pair.remoteAddr[1] };
    }
  }
  return undefined;
}
