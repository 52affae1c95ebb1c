// The grammar both SDP readers (offers, PATCH fragments) check tokens against, from the RFCs that define them:
// ICE credentials and candidates (RFC 8839), fingerprints (RFC 8122), mids (RFC 5888 tokens, at most 16 characters
// as the RTP MID header extension of RFC 8843 carries them), rids (RFC 8851). Each check returns the problem in words,
// or undefined; the callers wrap it in their own error type. Nothing here backtracks: every check is linear in its
// input, which the line length cap already bounds.
import { isIPv6 } from "node:net";

/** Splits an SDP body into its non-blank lines, stopping at the first line past the limits. */
export function sdpLines(text: string, limits: { maxLines: number; maxLineLength: number }, fail: (detail: string) => never): string[] {
  const lines: string[] = [];
  let count = 0;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    if (++count > limits.maxLines) fail(`more than ${limits.maxLines} lines`);
    const stop = end > start && text.charCodeAt(end - 1) === 13 ? end - 1 : end;
    if (stop - start > limits.maxLineLength) fail(`line ${count} is longer than ${limits.maxLineLength} characters`);
    const line = text.slice(start, stop);
    // SDP text may not hold NUL, CR or LF (RFC 8866 §9); the other C0 controls have no use in an offer either, and
    // would reach logs and answers raw.
    if (CONTROL.test(line)) fail(`control character in line ${count}`);
    if (line !== "") lines.push(line);
    start = end + 1;
  }
  return lines;
}

const CONTROL = /[\x00-\x08\x0a-\x1f]/;

const ICE_CHARS = /^[A-Za-z0-9+/]*$/;

/** RFC 8839 §5.4: ice-ufrag is 4-256 ice-chars, ice-pwd 22-256. */
export function iceCredentialProblem(attr: "ice-ufrag" | "ice-pwd", value: string): string | undefined {
  const min = attr === "ice-ufrag" ? 4 : 22;
  if (value.length < min || value.length > 256) return `${attr} must be ${min}-256 characters (has ${value.length})`;
  if (!ICE_CHARS.test(value)) return `${attr} may only hold letters, digits, "+" and "/"`;
  return undefined;
}

/** Digest length in bytes of the hash functions werift can check a certificate with (RFC 8122 §5). */
export const FINGERPRINT_HASHES: Readonly<Record<string, number>> = {
  "sha-1": 20,
  "sha-224": 28,
  "sha-256": 32,
  "sha-384": 48,
  "sha-512": 64,
};

const HASH_NAME = /^[A-Za-z0-9!#$%&'*+.^_`{|}~-]{1,32}$/;
const DIGEST = /^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})*$/;

export type FingerprintCheck =
  /** Not `hash-func SP digest` at all: counts as no fingerprint. */
  | { kind: "shapeless" }
  | { kind: "usable"; hash: string }
  /** A hash this server cannot check: harmless next to a usable one, fatal alone. */
  | { kind: "unknown"; hash: string }
  | { kind: "invalid"; problem: string };

export function checkFingerprint(value: string): FingerprintCheck {
  const space = value.indexOf(" ");
  if (space <= 0 || space === value.length - 1) return { kind: "shapeless" };
  const hash = value.slice(0, space).toLowerCase();
  const digest = value.slice(space + 1);
  if (!HASH_NAME.test(hash) || !DIGEST.test(digest)) {
    return { kind: "invalid", problem: `malformed fingerprint "${value.slice(0, 40)}"` };
  }
  const bytes = FINGERPRINT_HASHES[hash];
  if (bytes === undefined) return { kind: "unknown", hash };
  const got = (digest.length + 1) / 3;
  if (got !== bytes) return { kind: "invalid", problem: `${hash} fingerprint must be ${bytes} bytes (has ${got})` };
  return { kind: "usable", hash };
}

// RFC 4566 token-char, at most 16 of them (RFC 8843 §15: the MID header extension carries at most 16 bytes).
const MID = /^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]{1,16}$/;

export function midProblem(mid: string): string | undefined {
  return MID.test(mid) ? undefined : `invalid mid "${printable(mid)}" (1-16 token characters)`;
}

// RFC 8851 rid-id, bounded to 16 as the RtpStreamId header extension carries it.
const RID = /^[A-Za-z0-9_-]{1,16}$/;

export function ridProblem(rid: string): string | undefined {
  return RID.test(rid) ? undefined : `invalid rid "${printable(rid)}" (1-16 letters, digits, "-", "_")`;
}

const DIGITS = /^\d+$/;

/** A decimal integer of at most `maxDigits` digits within [min, max], or undefined. */
export function boundedInt(text: string, min: number, max: number, maxDigits = 10): number | undefined {
  if (text.length === 0 || text.length > maxDigits || !DIGITS.test(text)) return undefined;
  const n = Number(text);
  return n >= min && n <= max ? n : undefined;
}

const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const NUMERIC = /^\d+$/;

/**
 * An IPv4 or IPv6 address, or a host name (RFC 1123; mDNS `.local` names are what Chromium gathers when it hides its
 * addresses). A name whose last label is all digits is a malformed IPv4 address such as 999.1.1.1, not a host.
 */
export function isCandidateAddress(address: string): boolean {
  if (IPV4.test(address)) return true;
  if (address.includes(":")) return address.length <= 64 && isIPv6(address);
  if (address.length === 0 || address.length > 253) return false;
  const labels = address.split(".");
  if (NUMERIC.test(labels[labels.length - 1] ?? "")) return false;
  return labels.every((l) => LABEL.test(l));
}

const FOUNDATION = /^[A-Za-z0-9+/]{1,32}$/;
const TYPES = new Set(["host", "srflx", "prflx", "relay"]);
const TCP_TYPES = new Set(["active", "passive", "so"]);
const EXT_NAME = /^[A-Za-z0-9-]{1,32}$/;
const MAX_PRIORITY = 2 ** 32 - 1;

/**
 * RFC 8839 §5.1: `foundation component transport priority address port typ type [raddr a] [rport p] *(name value)`,
 * given without its `candidate:` prefix. Transport is UDP or TCP (RFC 6544), the only two werift speaks.
 */
export function candidateProblem(value: string): string | undefined {
  const t = value.split(" ");
  const bad = (what: string) => `invalid candidate ${what} in "${printable(value.slice(0, 80))}"`;
  if (t.length < 8 || t.length % 2 !== 0) return bad("(wrong number of fields)");
  const [foundation = "", component = "", transport = "", priority = "", address = "", port = "", typ = "", type = ""] = t;
  if (!FOUNDATION.test(foundation)) return bad("foundation");
  if (boundedInt(component, 1, 256, 3) === undefined) return bad("component");
  const proto = transport.toLowerCase();
  if (proto !== "udp" && proto !== "tcp") return bad("transport (udp or tcp)");
  if (boundedInt(priority, 1, MAX_PRIORITY) === undefined) return bad("priority");
  if (!isCandidateAddress(address)) return bad("address");
  if (boundedInt(port, 1, 65535, 5) === undefined) return bad("port (1-65535)");
  if (typ !== "typ" || !TYPES.has(type)) return bad("type");
  for (let i = 8; i < t.length; i += 2) {
    const name = t[i] ?? "";
    const v = t[i + 1] ?? "";
    if (name === "raddr") {
      if (!isCandidateAddress(v)) return bad("raddr");
    } else if (name === "rport") {
      // Chromium hides its host address behind "raddr 0.0.0.0 rport 0".
      if (boundedInt(v, 0, 65535, 5) === undefined) return bad("rport");
    } else if (name === "tcptype") {
      if (proto !== "tcp" || !TCP_TYPES.has(v)) return bad("tcptype");
    } else if (!EXT_NAME.test(name) || v === "") return bad("extension");
  }
  return undefined;
}

/**
 * For quoting client text in an error: anything but printable ASCII shown as `\uNNNN`, so a log line stays one line
 * and the detail is a valid `X-Error-Detail` header value.
 */
export function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
