// fast-check arbitraries for offers and fragments: a model of a valid offer (what the server must accept), its
// text, and what parseOffer must read back from it. The model stays inside OFFER_LIMITS and the RFC grammar
// (rtc/sdpGrammar.ts), so any refusal of a generated offer is a bug in the reader, not in the generator.
import fc from "fast-check";
import type { Direction, OfferedMedia, ParsedOffer } from "../../../src/rtc/sdp.ts";

const ICE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const TOKEN_CHARS = "!#$%&'*+-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ^_`abcdefghijklmnopqrstuvwxyz{|}~";
const RID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** Strings over an alphabet, built from bytes: far quicker to generate (and shrink) than a string of constantFrom. */
const charsOf = (alphabet: string, min: number, max: number) =>
  fc.uint8Array({ minLength: min, maxLength: max }).map((bytes) => {
    let out = "";
    for (const b of bytes) out += alphabet[b % alphabet.length];
    return out;
  });

export const ufrag = () => charsOf(ICE_CHARS, 4, 256);
export const pwd = () => charsOf(ICE_CHARS, 22, 256);
export const mid = () => charsOf(TOKEN_CHARS, 1, 16);

const HASHES: [string, number][] = [
  ["sha-1", 20],
  ["sha-224", 28],
  ["sha-256", 32],
  ["sha-384", 48],
  ["sha-512", 64],
];

export const fingerprint = () =>
  fc
    .tuple(fc.constantFrom(...HASHES), fc.boolean(), fc.uint8Array({ minLength: 64, maxLength: 64 }))
    .map(([[hash, bytes], upper, digest]) => {
      const hex = [...digest.subarray(0, bytes)].map((b) => b.toString(16).padStart(2, "0")).join(":");
      return `${upper ? hash.toUpperCase() : hash} ${upper ? hex.toUpperCase() : hex}`;
    });

const ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789";
const label = () => fc.tuple(charsOf(ALNUM, 1, 1), charsOf(`${ALNUM}-`, 0, 10), charsOf(ALNUM, 1, 1)).map(([a, b, c]) => a + b + c);
export const candidateAddress = () =>
  fc.oneof(
    fc.ipV4(),
    fc.ipV6(),
    fc.uuid().map((u) => `${u}.local`),
    fc.tuple(label(), fc.constantFrom("example", "lan", "host"), fc.constantFrom("com", "local", "net")).map((p) => p.join(".")),
  );

/** A candidate attribute value (without `candidate:`), as RFC 8839 writes it. */
export const candidate = () =>
  fc
    .record({
      foundation: charsOf(ICE_CHARS, 1, 32),
      component: fc.integer({ min: 1, max: 2 }),
      transport: fc.constantFrom("udp", "UDP", "tcp", "TCP"),
      priority: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      address: candidateAddress(),
      port: fc.integer({ min: 1, max: 65535 }),
      type: fc.constantFrom("host", "srflx", "prflx", "relay"),
      related: fc.option(fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 65535 })), { nil: undefined }),
      tcptype: fc.constantFrom("active", "passive", "so"),
      generation: fc.option(fc.integer({ min: 0, max: 9 }), { nil: undefined }),
    })
    .map((c) => {
      const parts = [c.foundation, String(c.component), c.transport, String(c.priority), c.address, String(c.port), "typ", c.type];
      if (c.related && c.type !== "host") parts.push("raddr", c.related[0], "rport", String(c.related[1]));
      if (c.transport.toLowerCase() === "tcp") parts.push("tcptype", c.tcptype);
      if (c.generation !== undefined) parts.push("generation", String(c.generation));
      return parts.join(" ");
    });

interface CodecModel {
  payloadType: number;
  /** Undefined: listed in the m= line without an rtpmap (a static type), so not a codec of the result. */
  map: { name: string; clockRate: number; channels: number | undefined; fmtp: string | undefined } | undefined;
}

export interface SectionModel {
  kind: "audio" | "video" | "application";
  mid: string;
  port: number;
  direction: Direction | undefined;
  codecs: CodecModel[];
  feedback: { target: number | "*"; fb: string }[];
  rids: { id: string; dir: "send" | "recv" }[];
  extmap: { id: number; uri: string }[];
  ssrcs: number[];
  candidates: string[];
  transport: { ufrag: string; pwd: string; fingerprint: string } | undefined;
}

export interface OfferModel {
  session: { ufrag: string; pwd: string; fingerprint: string } | undefined;
  bundle: boolean;
  sections: SectionModel[];
}

const transport = () => fc.record({ ufrag: ufrag(), pwd: pwd(), fingerprint: fingerprint() });

const codecs = () =>
  fc.uniqueArray(fc.integer({ min: 0, max: 127 }), { minLength: 1, maxLength: 10 }).chain((pts) =>
    fc.tuple(
      ...pts.map((pt) =>
        fc.record({
          payloadType: fc.constant(pt),
          map: fc.option(
            fc.record({
              name: fc.tuple(charsOf("ABCDEFGHabcdefgh", 1, 1), charsOf(`${ALNUM}ABC-`, 0, 11)).map(([a, b]) => a + b),
              clockRate: fc.oneof(fc.constantFrom(8000, 48000, 90000), fc.integer({ min: 1, max: 2 ** 32 - 1 })),
              channels: fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }),
              fmtp: fc.option(
                fc
                  .array(fc.tuple(charsOf(`${ALNUM}-`, 1, 12), charsOf(`${ALNUM}ABC`, 1, 12)), { minLength: 1, maxLength: 4 })
                  .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join(";")),
                { nil: undefined },
              ),
            }),
            { nil: undefined, freq: 6 },
          ),
        }),
      ),
    ),
  );

const feedback = (pts: number[]) =>
  fc.array(
    fc.record({
      target: pts.length > 0 ? fc.oneof(fc.constantFrom(...pts), fc.constant("*" as const)) : fc.constant("*" as const),
      fb: fc.constantFrom("nack", "nack pli", "ccm fir", "goog-remb", "transport-cc"),
    }),
    { maxLength: 6 },
  );

function section(mids: string, kind: SectionModel["kind"], withTransport: boolean): fc.Arbitrary<SectionModel> {
  const media = kind !== "application";
  return fc
    .record({
      codecs: media ? codecs() : fc.constant([] as CodecModel[]),
      port: fc.oneof({ weight: 6, arbitrary: fc.constant(9) }, fc.constant(0), fc.integer({ min: 1, max: 65535 })),
      direction: fc.option(fc.constantFrom<Direction>("sendrecv", "sendonly", "recvonly", "inactive"), { nil: undefined }),
      rids: media
        ? fc.uniqueArray(fc.record({ id: charsOf(RID_CHARS, 1, 16), dir: fc.constantFrom<"send" | "recv">("send", "recv") }), {
            maxLength: 4,
            selector: (r) => r.id,
          })
        : fc.constant<{ id: never; dir: never; uri: never }[]>([]),
      extmap: media
        ? fc.uniqueArray(fc.record({ id: fc.integer({ min: 1, max: 255 }), uri: charsOf(TOKEN_CHARS, 1, 40).map((t) => `urn:x-fuzz:${t}`) }), { maxLength: 6, selector: (e) => e.id })
        : fc.constant<{ id: never; dir: never; uri: never }[]>([]),
      ssrcs: fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { maxLength: 4 }),
      candidates: fc.array(candidate(), { maxLength: 4 }),
      transport: withTransport ? transport() : fc.constant(undefined),
    })
    .chain((s) =>
      feedback(s.codecs.filter((c) => c.map !== undefined).map((c) => c.payloadType)).map(
        (fb): SectionModel => ({ ...s, kind, mid: mids, feedback: media ? fb : [] }),
      ),
    );
}

/** A valid offer: 1-16 sections with unique mids, at least one audio/video section that is not rejected. */
export const offerModel = (): fc.Arbitrary<OfferModel> =>
  fc
    .record({
      mids: fc.uniqueArray(mid(), { minLength: 1, maxLength: 16 }),
      sessionLevel: fc.boolean(),
      bundle: fc.boolean(),
      kinds: fc.array(fc.constantFrom<SectionModel["kind"]>("audio", "video", "application"), { minLength: 16, maxLength: 16 }),
    })
    .chain(({ mids, sessionLevel, bundle, kinds }) =>
      fc
        .tuple(
          sessionLevel ? transport() : fc.constant(undefined),
          fc.tuple(...mids.map((m, i) => section(m, i === 0 ? (kinds[0] === "audio" ? "audio" : "video") : (kinds[i] ?? "video"), !sessionLevel))),
        )
        .map(([session, sections]): OfferModel => {
          const first = sections[0] as SectionModel;
          // The first section carries media and a codec, so the offer always has something to publish or play.
          first.port = 9;
          if (!first.codecs.some((c) => c.map)) first.codecs[0] = { payloadType: first.codecs[0]?.payloadType ?? 96, map: { name: "VP8", clockRate: 90000, channels: undefined, fmtp: undefined } };
          for (const s of sections) {
            const mapped = new Set(s.codecs.filter((c) => c.map).map((c) => c.payloadType));
            s.feedback = s.feedback.filter((f) => f.target === "*" || mapped.has(f.target));
            // An active section with no codec is refused; rejected (port 0) ones may have none.
            if ((s.kind === "audio" || s.kind === "video") && s.port !== 0 && mapped.size === 0) s.port = 0;
          }
          return { session, bundle, sections };
        }),
    );

export function offerText(o: OfferModel): string {
  const lines = ["v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0"];
  if (o.bundle) lines.push(`a=group:BUNDLE ${o.sections.map((s) => s.mid).join(" ")}`);
  if (o.session) lines.push(`a=ice-ufrag:${o.session.ufrag}`, `a=ice-pwd:${o.session.pwd}`, `a=fingerprint:${o.session.fingerprint}`);
  lines.push("a=msid-semantic: WMS *");
  for (const s of o.sections) {
    if (s.kind === "application") lines.push(`m=application ${s.port} UDP/DTLS/SCTP webrtc-datachannel`);
    else lines.push(`m=${s.kind} ${s.port} UDP/TLS/RTP/SAVPF ${s.codecs.map((c) => c.payloadType).join(" ")}`);
    lines.push("c=IN IP4 0.0.0.0");
    if (s.transport) lines.push(`a=ice-ufrag:${s.transport.ufrag}`, `a=ice-pwd:${s.transport.pwd}`, `a=fingerprint:${s.transport.fingerprint}`);
    lines.push("a=setup:actpass", `a=mid:${s.mid}`);
    if (s.direction) lines.push(`a=${s.direction}`);
    if (s.kind === "application") lines.push("a=sctp-port:5000", "a=max-message-size:262144");
    for (const e of s.extmap) lines.push(`a=extmap:${e.id} ${e.uri}`);
    lines.push("a=rtcp-mux");
    for (const c of s.codecs) {
      if (!c.map) continue;
      lines.push(`a=rtpmap:${c.payloadType} ${c.map.name}/${c.map.clockRate}${c.map.channels === undefined ? "" : `/${c.map.channels}`}`);
    }
    for (const f of s.feedback) lines.push(`a=rtcp-fb:${f.target} ${f.fb}`);
    for (const c of s.codecs) if (c.map?.fmtp !== undefined) lines.push(`a=fmtp:${c.payloadType} ${c.map.fmtp}`);
    for (const r of s.rids) lines.push(`a=rid:${r.id} ${r.dir}`);
    if (s.rids.some((r) => r.dir === "send")) lines.push(`a=simulcast:send ${s.rids.filter((r) => r.dir === "send").map((r) => r.id).join(";")}`);
    for (const ssrc of s.ssrcs) lines.push(`a=ssrc:${ssrc} cname:fuzz`);
    for (const c of s.candidates) lines.push(`a=candidate:${c}`);
    if (s.candidates.length > 0) lines.push("a=end-of-candidates");
  }
  return `${lines.join("\r\n")}\r\n`;
}

/** What parseOffer must make of the model's text. */
export function expectedOffer(o: OfferModel): ParsedOffer {
  const media = o.sections.map((s): OfferedMedia => {
    const codecs = s.codecs.flatMap((c) => {
      if (!c.map) return [];
      const rtcpFb = s.feedback.filter((f) => f.target === "*" || f.target === c.payloadType).map((f) => f.fb);
      return [{ payloadType: c.payloadType, name: c.map.name, clockRate: c.map.clockRate, channels: c.map.channels, fmtp: c.map.fmtp ?? "", rtcpFb }];
    });
    return {
      kind: s.kind,
      mid: s.mid,
      direction: s.direction ?? "sendrecv",
      port: s.port,
      codecs,
      rids: s.rids.filter((r) => r.dir === "send").map((r) => r.id),
      extmap: s.extmap,
    };
  });
  const first = o.sections.find((s) => s.kind !== "application" && s.port !== 0) as SectionModel;
  const t = first.transport ?? o.session;
  return { media, iceUfrag: t?.ufrag ?? "", icePwd: t?.pwd ?? "" };
}

/** Edits that turn a valid offer into a nearly valid one, the way a buggy client or an attacker would. */
export type Mutation =
  | { op: "delete"; at: number }
  | { op: "duplicate"; at: number }
  | { op: "swap"; at: number; with: number }
  | { op: "replaceChar"; at: number; pos: number; ch: string }
  | { op: "insert"; at: number; line: string }
  | { op: "truncate"; at: number; pos: number }
  | { op: "replaceValue"; at: number; value: string };

const lineArb = fc.oneof(
  fc.string({ unit: "binary", maxLength: 80 }),
  fc.tuple(fc.constantFrom("a=candidate:", "a=mid:", "a=ice-ufrag:", "a=ice-pwd:", "a=fingerprint:", "a=rtpmap:", "a=fmtp:", "a=rtcp-fb:", "a=extmap:", "a=rid:", "a=ssrc:", "a=group:BUNDLE ", "m=video ", "m=audio ", "a=sendonly", "a=", "b=AS:"), fc.string({ unit: "binary", maxLength: 60 })).map(([a, b]) => a + b),
);

export const mutation = (): fc.Arbitrary<Mutation> =>
  fc.oneof(
    fc.record({ op: fc.constant("delete" as const), at: fc.nat() }),
    fc.record({ op: fc.constant("duplicate" as const), at: fc.nat() }),
    fc.record({ op: fc.constant("swap" as const), at: fc.nat(), with: fc.nat() }),
    fc.record({ op: fc.constant("replaceChar" as const), at: fc.nat(), pos: fc.nat(), ch: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) }),
    fc.record({ op: fc.constant("insert" as const), at: fc.nat(), line: lineArb }),
    fc.record({ op: fc.constant("truncate" as const), at: fc.nat(), pos: fc.nat() }),
    fc.record({ op: fc.constant("replaceValue" as const), at: fc.nat(), value: fc.string({ unit: "binary", maxLength: 40 }) }),
  );

export function mutate(text: string, mutations: readonly Mutation[]): string {
  const lines = text.split("\r\n");
  for (const m of mutations) {
    const n = lines.length;
    if (n === 0) break;
    const at = m.at % n;
    const line = lines[at] as string;
    switch (m.op) {
      case "delete":
        lines.splice(at, 1);
        break;
      case "duplicate":
        lines.splice(at, 0, line);
        break;
      case "swap": {
        const other = m.with % n;
        lines[at] = lines[other] as string;
        lines[other] = line;
        break;
      }
      case "replaceChar": {
        const pos = line.length === 0 ? 0 : m.pos % line.length;
        lines[at] = line.slice(0, pos) + m.ch + line.slice(pos + 1);
        break;
      }
      case "insert":
        lines.splice(at, 0, m.line);
        break;
      case "truncate":
        lines[at] = line.slice(0, line.length === 0 ? 0 : m.pos % line.length);
        break;
      case "replaceValue": {
        const colon = line.indexOf(":");
        lines[at] = colon < 0 ? line + m.value : line.slice(0, colon + 1) + m.value;
        break;
      }
    }
  }
  return lines.join("\r\n");
}
