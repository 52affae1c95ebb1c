// A node's direct URL, from PUBLIC_URL, HOST and the port it alone listens on.
import { describe, expect, it } from "vitest";
import type { NetworkInterfaceInfo } from "node:os";
import { directUrl } from "../../../src/node/directUrl.ts";

const lan: Record<string, NetworkInterfaceInfo[]> = {
  lo: [{ address: "127.0.0.1", family: "IPv4", internal: true, netmask: "255.0.0.0", mac: "00:00:00:00:00:00", cidr: "127.0.0.1/8" }],
  eth0: [
    { address: "fe80::1", family: "IPv6", internal: false, netmask: "ffff:ffff:ffff:ffff::", mac: "02:00:00:00:00:01", cidr: "fe80::1/64", scopeid: 2 },
    { address: "10.1.2.3", family: "IPv4", internal: false, netmask: "255.255.255.0", mac: "02:00:00:00:00:01", cidr: "10.1.2.3/24" },
  ],
};

describe("directUrl", () => {
  it("is PUBLIC_URL for a node on its own, and PUBLIC_URL with the worker's own port for a worker", () => {
    const base = { publicUrl: "https://sfu-3.example.com:8443", host: "0.0.0.0", tls: true, directPort: 8443 };
    expect(directUrl({ ...base, worker: false }, lan)).toBe("https://sfu-3.example.com:8443");
    expect(directUrl({ ...base, directPort: 8445, worker: true }, lan)).toBe("https://sfu-3.example.com:8445");
    // The scheme's own port is left out, as a browser would write it.
    expect(directUrl({ publicUrl: "https://sfu.example.com", host: "0.0.0.0", tls: true, directPort: 443, worker: true }, lan)).toBe("https://sfu.example.com");
  });

  it("without PUBLIC_URL: HOST and the port, the first non-internal IPv4 address for an any-address HOST", () => {
    expect(directUrl({ publicUrl: undefined, host: "127.0.0.2", tls: false, directPort: 8081, worker: true }, lan)).toBe("http://127.0.0.2:8081");
    expect(directUrl({ publicUrl: undefined, host: "0.0.0.0", tls: true, directPort: 8080, worker: false }, lan)).toBe("https://10.1.2.3:8080");
    expect(directUrl({ publicUrl: undefined, host: "::", tls: false, directPort: 8080, worker: false }, lan)).toBe("http://10.1.2.3:8080");
    // A machine with loopback only: loopback.
    expect(directUrl({ publicUrl: undefined, host: "0.0.0.0", tls: false, directPort: 8080, worker: false }, { lo: lan["lo"] ?? [] })).toBe("http://127.0.0.1:8080");
    expect(directUrl({ publicUrl: undefined, host: "::1", tls: false, directPort: 9000, worker: false }, lan)).toBe("http://[::1]:9000");
  });
});
