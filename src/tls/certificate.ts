// HTTPS material: operator files, or a self-signed certificate made once with @peculiar/x509 and kept in DATA_DIR.
import "../polyfills.ts";
import { createHash, webcrypto } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";

export interface TlsMaterial {
  cert: string;
  key: string;
  fingerprint: string;
}

export class TlsError extends Error {
  override name = "TlsError";
}

/** SHA-256 of the DER certificate, as browsers show it (AA:BB:...). */
export function certificateFingerprint(pem: string): string {
  const der = new x509.X509Certificate(pem).rawData;
  return createHash("sha256")
    .update(Buffer.from(der))
    .digest("hex")
    .toUpperCase()
    .match(/../g)!
    .join(":");
}

export async function createSelfSigned(commonName: string): Promise<{ cert: string; key: string }> {
  const crypto = webcrypto as unknown as Crypto;
  x509.cryptoProvider.set(crypto);
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
  const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("hex").replace(/^[89a-f]/, "1"),
    name: `CN=${commonName}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 825 * 24 * 3600 * 1000),
    keys,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: "dns", value: commonName },
        { type: "dns", value: "localhost" },
        { type: "ip", value: "127.0.0.1" },
      ]),
    ],
  });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  const key = `-----BEGIN PRIVATE KEY-----\n${Buffer.from(pkcs8).toString("base64").match(/.{1,64}/g)!.join("\n")}\n-----END PRIVATE KEY-----\n`;
  return { cert: cert.toString("pem"), key };
}

export async function loadTls(config: Config, log: Logger): Promise<TlsMaterial | undefined> {
  const tls = config.tls;
  if (tls === undefined) return undefined;
  if ("certFile" in tls) {
    let cert: string;
    let key: string;
    try {
      cert = readFileSync(tls.certFile, "utf8");
      key = readFileSync(tls.keyFile, "utf8");
    } catch (err) {
      throw new TlsError(`TLS_CERT/TLS_KEY: cannot read ${String((err as Error).message)}`);
    }
    let fingerprint: string;
    try {
      fingerprint = certificateFingerprint(cert);
    } catch {
      throw new TlsError(`TLS_CERT: ${tls.certFile} is not a PEM certificate`);
    }
    log.info({ fingerprint }, "HTTPS with the configured certificate");
    return { cert, key, fingerprint };
  }
  const certPath = join(config.dataDir, "tls-cert.pem");
  const keyPath = join(config.dataDir, "tls-key.pem");
  let material: { cert: string; key: string };
  if (existsSync(certPath) && existsSync(keyPath)) {
    material = { cert: readFileSync(certPath, "utf8"), key: readFileSync(keyPath, "utf8") };
  } else {
    material = await createSelfSigned(hostname());
    try {
      mkdirSync(config.dataDir, { recursive: true });
      writeFileSync(keyPath, material.key, { mode: 0o600 });
      writeFileSync(certPath, material.cert);
    } catch (err) {
      throw new TlsError(`DATA_DIR: cannot keep the self-signed certificate in ${config.dataDir}: ${(err as Error).message}`);
    }
  }
  const fingerprint = certificateFingerprint(material.cert);
  log.info({ fingerprint, certPath }, "HTTPS with a self-signed certificate; browsers will ask to trust it");
  return { ...material, fingerprint };
}
