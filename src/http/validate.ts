// Request validation through the schemas of http/openapi/schemas.ts, as route middlewares that also carry their
// schema into the OpenAPI document (hono-openapi reads it from them). A refusal is the contract's: 400
// {"error": <the schema's message>}. JSON bodies are read here rather than by Hono's validator, which would skip
// a body sent without a JSON Content-Type (curl -d) and read it before the handler checked the token: the body
// is bounded first (413), any Content-Type is taken, as the contract always has, and it is read when asked for.
import type { Context, MiddlewareHandler } from "hono";
import { resolver, uniqueSymbol, validator } from "hono-openapi";
import type { StandardSchemaV1 } from "@standard-schema/spec";
import { badRequest, payloadTooLarge } from "./errors.ts";

type Target = "param" | "query";

function firstMessage(issues: readonly StandardSchemaV1.Issue[]): string {
  return issues[0]?.message ?? "invalid request";
}

/** Validates the path parameters or the query (a handler may read them as usual: they passed). */
function validate<S extends StandardSchemaV1>(target: Target, schema: S): MiddlewareHandler {
  return validator(target, schema, (result) => {
    if (!result.success) throw badRequest(firstMessage(result.error));
  }) as MiddlewareHandler;
}

export const params = <S extends StandardSchemaV1>(schema: S) => validate("param", schema);
export const query = <S extends StandardSchemaV1>(schema: S) => validate("query", schema);

export interface JsonBodyOptions {
  maxBytes: number;
  /** The message for a body that is not JSON at all. */
  notJson: string;
  /** An empty body is allowed, and validated as undefined. */
  optional?: boolean;
}

/** Each request's body reader, as the route's jsonBody middleware left it. */
const readers = new WeakMap<Request, () => Promise<unknown>>();

/**
 * A JSON body, bounded, parsed and validated by `schema`: the middleware only says how, and the handler reads it
 * with `await body(c, schema)` once it has checked the token, so a refused client never makes the server read it.
 */
export function jsonBody<S extends StandardSchemaV1>(schema: S, opts: JsonBodyOptions): MiddlewareHandler {
  const middleware: MiddlewareHandler = async function jsonBody(c, next) {
    let read: Promise<unknown> | undefined;
    readers.set(c.req.raw, () => {
      read ??= (async () => {
        if (Number(c.req.header("content-length") ?? "0") > opts.maxBytes) throw payloadTooLarge();
        const text = await c.req.text();
        if (text.length > opts.maxBytes) throw payloadTooLarge();
        let value: unknown;
        if (text.trim() === "" && opts.optional) value = undefined;
        else {
          try {
            value = JSON.parse(text);
          } catch {
            throw badRequest(opts.notJson);
          }
        }
        const result = await schema["~standard"].validate(value);
        if (result.issues) throw badRequest(firstMessage(result.issues));
        return result.value;
      })();
      return read;
    });
    await next();
  };
  // What hono-openapi's own validator carries: the document gets the body's schema from it.
  return Object.assign(middleware, { [uniqueSymbol]: { target: "json", ...resolver(schema), options: undefined } });
}

/** The request's JSON body, as the route's jsonBody middleware reads and validates it. */
export async function body<S extends StandardSchemaV1>(c: Context, _schema: S): Promise<StandardSchemaV1.InferOutput<S>> {
  const read = readers.get(c.req.raw);
  if (!read) throw new Error(`${c.req.method} ${c.req.routePath} reads a JSON body but has no jsonBody middleware`);
  return (await read()) as StandardSchemaV1.InferOutput<S>;
}
