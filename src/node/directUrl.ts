// A node's direct URL: where a client (after a 307) or another node (a relay pull, a forwarded session request)
// reaches this node in particular (docs/cluster.md, "Ports and addresses").
import { networkInterfaces, type NetworkInterfaceInfo } from "node:os";

export interface DirectUrlInput {
  /** PUBLIC_URL: how clients reach this machine (an origin, no path). */
  publicUrl: string | undefined;
  host: string;
  tls: boolean;
  /** The port this node alone listens on (a worker's PORT+1+i, else PORT), as bound. */
  directPort: number;
  /** A worker of several on one machine: its direct port differs from PUBLIC_URL's. */
  worker: boolean;
}

type Interfaces = NodeJS.Dict<NetworkInterfaceInfo[]>;

/**
 * PUBLIC_URL as it is for a node on its own; with the worker's direct port for one of several on a machine.
 * Without PUBLIC_URL: http(s)://HOST:port, with the machine's first non-internal IPv4 address (else loopback)
 * when HOST listens on every address.
 */
export function directUrl(input: DirectUrlInput, interfaces: Interfaces = networkInterfaces()): string {
  if (input.publicUrl !== undefined) {
    if (!input.worker) return input.publicUrl;
    const url = new URL(input.publicUrl);
    url.port = String(input.directPort);
    return url.origin;
  }
  const scheme = input.tls ? "https" : "http";
  const anyAddress = input.host === "0.0.0.0" || input.host === "::";
  const host = anyAddress ? firstExternalIpv4(interfaces) : input.host;
  return `${scheme}://${host.includes(":") ? `[${host}]` : host}:${input.directPort}`;
}

function firstExternalIpv4(interfaces: Interfaces): string {
  for (const list of Object.values(interfaces)) {
    for (const i of list ?? []) if (i.family === "IPv4" && !i.internal) return i.address;
  }
  return "127.0.0.1";
}
