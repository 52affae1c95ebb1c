// Where werift meets the UDP mux: its per-peer sockets are replaced by mux transports, each ICE agent's
// credentials are registered so the mux can route to it, and the forwarding path learns where a peer's media goes.
import * as werift from "werift";
import type { RTCPeerConnection } from "werift";
import { MuxTransport, type UdpMux } from "./udpMux.ts";

interface UdpTransportClass {
  init(type: string, options?: unknown): Promise<unknown>;
}

/** The parts of werift's ICE connection this module reads; werift types them as internals. */
interface IceConnectionView {
  localUsername: string;
  remoteUsername: string;
  protocols: { transport?: unknown }[];
  nominated?: { protocol: { transport?: unknown }; remoteAddr: [string, number] };
}

export interface MediaTarget {
  transport: MuxTransport;
  address: string;
  port: number;
}

let installed: UdpMux | undefined;

/**
 * From now on werift's ICE agents get their IPv4 UDP transports from `make`; IPv6 (off in roomcast) keeps
 * werift's own sockets. Returns the undo. The benchmark's viewers use it too, with a socket each.
 */
export function replaceUdp4Transports(make: () => Promise<unknown>): () => void {
  // werift's ESM bundle exports UdpTransport at run time though its declarations leave it out.
  const cls = (werift as unknown as { UdpTransport: UdpTransportClass }).UdpTransport;
  const original = cls.init.bind(cls);
  cls.init = (type: string, options?: unknown) => (type === "udp4" ? make() : original(type, options));
  return () => {
    cls.init = original;
  };
}

/** From now on every werift ICE agent gets its IPv4 host transport from the mux. Returns the undo, for tests. */
export function installUdpMux(mux: UdpMux): () => void {
  const restore = replaceUdp4Transports(() => Promise.resolve(mux.createTransport()));
  installed = mux;
  return () => {
    restore();
    installed = undefined;
  };
}

export function muxInstalled(): UdpMux | undefined {
  return installed;
}

function connections(pc: RTCPeerConnection): IceConnectionView[] {
  return pc.iceTransports.map((t) => t.connection as unknown as IceConnectionView);
}

/**
 * Tells the mux which transport answers to this peer's ICE credentials. Called after each negotiation and ICE
 * restart, once werift knows both ufrags and has gathered.
 */
export function registerIceCredentials(pc: RTCPeerConnection): void {
  for (const c of connections(pc)) {
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
  const own = (dtlsTransport as { iceTransport?: { connection?: unknown } } | undefined)?.iceTransport?.connection;
  for (const c of own === undefined ? connections(pc) : [own as IceConnectionView]) {
    const pair = c.nominated;
    const transport = pair?.protocol.transport;
    if (pair && transport instanceof MuxTransport && !transport.closed) {
      return { transport, address: pair.remoteAddr[0], port: pair.remoteAddr[1] };
    }
  }
  return undefined;
}
