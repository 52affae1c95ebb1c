// The OpenAPI document as one readable HTML page (GET /docs): operations grouped by tag, each with its
// parameters, body, answers and who may call it, then the named schemas. Rendered on the server from the JSON,
// with no script at all; its one stylesheet is inline and allowed by its hash in the page's own CSP.
import { createHash } from "node:crypto";
import type { OpenAPIV3_1 } from "openapi-types";

type Schema = OpenAPIV3_1.SchemaObject | OpenAPIV3_1.ReferenceObject;

const CSS = `
body{margin:0;font:15px/1.5 system-ui,sans-serif;background:#0f1115;color:#e6e8ee}
main{max-width:64rem;margin:0 auto;padding:1.5rem}
a{color:#4dabff}
h1{margin:0 0 .25rem}h2{margin:2rem 0 .5rem;border-bottom:1px solid #2a2f3a;padding-bottom:.25rem}
h3{font-size:1rem;margin:0}
code{font:13px/1.4 ui-monospace,monospace;background:#1b1f27;padding:.05rem .3rem;border-radius:3px}
.op{border:1px solid #2a2f3a;border-radius:6px;margin:.75rem 0;padding:.75rem 1rem;background:#151820}
.method{display:inline-block;min-width:4.2rem;font:700 12px ui-monospace,monospace;text-transform:uppercase;color:#0f1115;border-radius:3px;padding:.1rem .4rem;margin-right:.5rem;text-align:center}
.get{background:#4dabff}.post{background:#81c784}.patch{background:#ffb74d}.delete{background:#e57373}.put{background:#ba68c8}
.path{font:600 14px ui-monospace,monospace}
.muted{color:#9aa3b2}
table{border-collapse:collapse;width:100%;margin:.4rem 0;font-size:14px}
th,td{text-align:left;vertical-align:top;border-top:1px solid #2a2f3a;padding:.3rem .5rem}
th{color:#9aa3b2;font-weight:600}
nav ul{columns:2;padding-left:1.2rem}
`;

const cssHash = createHash("sha256").update(CSS).digest("base64");
/** The page's own policy: nothing but its inline stylesheet, which its hash names. */
export const DOCS_CSP = `default-src 'none'; style-src 'sha256-${cssHash}'; base-uri 'none'; form-action 'none'`;

const esc = (v: unknown) => String(v).replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
/** Descriptions use backticks for code, as Markdown does; everything else stays text. */
const prose = (v: string | undefined) => (v ? esc(v).replace(/`([^`]+)`/g, "<code>$1</code>") : "");
const anchor = (v: string) => v.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "").toLowerCase();

/** A schema as a short type: `{ id: string, state: "a" | "b", ... }`, `T[]`, named ones as links. */
export function typeOf(schema: Schema | undefined, depth = 0): string {
  if (!schema) return "any";
  if ("$ref" in schema) {
    const name = schema.$ref.split("/").pop() ?? "?";
    return `<a href="#schema-${anchor(name)}">${esc(name)}</a>`;
  }
  const s = schema as OpenAPIV3_1.SchemaObject & { const?: unknown; anyOf?: Schema[]; oneOf?: Schema[] };
  if (s.const !== undefined) return esc(JSON.stringify(s.const));
  if (s.enum) return s.enum.map((e) => esc(JSON.stringify(e))).join(" | ");
  const union = s.anyOf ?? s.oneOf;
  if (union) return union.map((u) => typeOf(u, depth)).join(" | ");
  const types = Array.isArray(s.type) ? s.type : s.type ? [s.type] : [];
  if (types.includes("array")) {
    const items = (s as OpenAPIV3_1.ArraySchemaObject).items as Schema | undefined;
    return `${typeOf(items, depth)}[]${types.includes("null") ? " | null" : ""}`;
  }
  if (types.includes("object") || s.properties) {
    const props = Object.entries(s.properties ?? {});
    if (props.length === 0) return "object";
    if (depth > 1) return "{ … }";
    const required = new Set(s.required ?? []);
    const fields = props.map(([k, v]) => `${esc(k)}${required.has(k) ? "" : "?"}: ${typeOf(v as Schema, depth + 1)}`);
    return `{ ${fields.join(", ")} }`;
  }
  if (types.length > 0) return types.map((t) => (t === "integer" ? "integer" : esc(t))).join(" | ");
  return "any";
}

function contentTable(content: Record<string, OpenAPIV3_1.MediaTypeObject> | undefined): string {
  if (!content) return "";
  return Object.entries(content)
    .map(([type, media]) => `<div><code>${esc(type)}</code> ${typeOf(media.schema as Schema | undefined)}</div>`)
    .join("");
}

function security(op: OpenAPIV3_1.OperationObject): string {
  const req = op.security;
  if (!req || req.length === 0) return "public";
  const names = req.flatMap((r) => Object.keys(r));
  const optional = req.some((r) => Object.keys(r).length === 0);
  const kinds = names.map((n) => (n === "bearer" ? "<code>Authorization: Bearer</code>" : n === "authToken" ? "<code>X-Auth-Token</code>" : "<code>?token=</code>"));
  return `${kinds.join(" or ")}${optional ? " (when auth is on)" : ""}`;
}

function operation(path: string, method: string, op: OpenAPIV3_1.OperationObject): string {
  const params = (op.parameters ?? []) as OpenAPIV3_1.ParameterObject[];
  const paramRows = params
    .map((p) => `<tr><td><code>${esc(p.name)}</code></td><td>${esc(p.in)}${p.required ? "" : ", optional"}</td><td>${typeOf(p.schema as Schema | undefined)}</td><td>${prose(p.description ?? (p.schema as { description?: string } | undefined)?.description)}</td></tr>`)
    .join("");
  const body = op.requestBody as OpenAPIV3_1.RequestBodyObject | undefined;
  const responses = Object.entries(op.responses ?? {})
    .map(([status, r]) => {
      const res = r as OpenAPIV3_1.ResponseObject;
      return `<tr><td><code>${esc(status)}</code></td><td>${prose(res.description)}</td><td>${contentTable(res.content)}</td></tr>`;
    })
    .join("");
  return `<section class="op" id="${anchor(`${method} ${path}`)}">
<h3><span class="method ${esc(method)}">${esc(method)}</span><span class="path">${esc(path)}</span></h3>
<p>${prose(op.summary)}${op.description ? ` <span class="muted">${prose(op.description)}</span>` : ""}</p>
<p class="muted">Auth: ${security(op)}</p>
${paramRows ? `<table><tr><th>Parameter</th><th>In</th><th>Type</th><th></th></tr>${paramRows}</table>` : ""}
${body ? `<p>Body:</p>${contentTable(body.content)}` : ""}
<table><tr><th>Status</th><th>Meaning</th><th>Body</th></tr>${responses}</table>
</section>`;
}

export function renderDocsPage(doc: OpenAPIV3_1.Document): string {
  const byTag = new Map<string, string[]>();
  const tagOrder = (doc.tags ?? []).map((t) => t.name);
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(item ?? {})) {
      if (typeof op !== "object" || op === null || !("responses" in op)) continue;
      const o = op as OpenAPIV3_1.OperationObject;
      const tag = o.tags?.[0] ?? "Other";
      if (!tagOrder.includes(tag)) tagOrder.push(tag);
      byTag.set(tag, [...(byTag.get(tag) ?? []), operation(path, method, o)]);
    }
  }
  const tagText = new Map((doc.tags ?? []).map((t) => [t.name, t.description]));
  const sections = tagOrder
    .filter((t) => byTag.has(t))
    .map((t) => `<h2 id="tag-${anchor(t)}">${esc(t)}</h2><p class="muted">${prose(tagText.get(t))}</p>${(byTag.get(t) ?? []).join("\n")}`)
    .join("\n");
  const schemas = Object.entries(doc.components?.schemas ?? {})
    .map(([name, schema]) => `<section class="op" id="schema-${anchor(name)}"><h3>${esc(name)}</h3><p>${prose((schema as { description?: string }).description)}</p><p><code>${typeOf(schema, 0)}</code></p></section>`)
    .join("\n");
  const nav = tagOrder
    .filter((t) => byTag.has(t))
    .map((t) => `<li><a href="#tag-${anchor(t)}">${esc(t)}</a> <span class="muted">(${byTag.get(t)?.length})</span></li>`)
    .join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${esc(doc.info.title)} API ${esc(doc.info.version)}</title><style>${CSS}</style></head>
<body><main>
<h1>${esc(doc.info.title)} API</h1>
<p class="muted">Version ${esc(doc.info.version)} · OpenAPI ${esc(doc.openapi)} · <a href="/api/openapi.json">openapi.json</a></p>
<p>${prose(doc.info.description)}</p>
<nav><ul>${nav}<li><a href="#schemas">Schemas</a></li></ul></nav>
${sections}
<h2 id="schemas">Schemas</h2>
${schemas}
</main></body></html>
`;
}
