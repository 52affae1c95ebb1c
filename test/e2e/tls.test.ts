// HTTPS with a self-signed certificate: made once, kept in DATA_DIR, fingerprint logged, reused on restart.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { request } from "node:https";
import { describe, expect, it } from "vitest";
import { startServer } from "./helpers/server.ts";

function get(url: string): Promise<{ status: number; body: string; fingerprint: string }> {
  return new Promise((res, rej) => {
    const req = request(url, { rejectUnauthorized: false }, (r) => {
      let body = "";
      const fingerprint = (r.socket as import("node:tls").TLSSocket).getPeerCertificate().fingerprint256;
      r.on("data", (c: Buffer) => (body += c.toString()));
      r.on("end", () => res({ status: r.statusCode ?? 0, body, fingerprint }));
    });
    req.on("error", rej);
    req.end();
  });
}

describe("TLS_SELF_SIGNED", () => {
  it("serves HTTPS with a certificate kept in DATA_DIR and logs its fingerprint", async () => {
    const server = await startServer({ TLS_SELF_SIGNED: "true", DATA_DIR: "state" });
    try {
      const res = await get(`${server.url}/healthz`);
      expect(res.status).toBe(200);
      expect(res.body).toBe("ok");
      const logged = server.lines.find((l) => l.includes("self-signed"));
      expect(logged).toBeDefined();
      const fingerprint = (JSON.parse(logged!) as { fingerprint: string }).fingerprint;
      expect(fingerprint).toBe(res.fingerprint);
      const pem = readFileSync(join(server.cwd, "state", "tls-cert.pem"), "utf8");
      expect(pem).toMatch(/^-----BEGIN CERTIFICATE-----/);
    } finally {
      await server.stop();
    }
  });

  it("a bad TLS setting stops the start with one line naming the variable", async () => {
    await expect(startServer({ TLS_CERT: "/nonexistent.pem", TLS_KEY: "/nonexistent.key" })).rejects.toThrow(/TLS_CERT/);
    await expect(startServer({ PORT: "99999" })).rejects.toThrow(/PORT: must be between/);
    await expect(startServer({ ROOM_TOKENS: "bad room:x" })).rejects.toThrow(/ROOM_TOKENS/);
  });
});
