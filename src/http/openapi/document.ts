// GET /api/openapi.json: the OpenAPI 3.1 document, made by hono-openapi from the routes' own middlewares (their
// descriptions and validators, operations.ts) the first time it is asked for, once every route is registered.
// GET /docs: the same document as a page, rendered here (docsPage.ts): no script, no CDN.
import type { Hono } from "hono";
import { generateSpecs } from "hono-openapi";
import type { OpenAPIV3_1 } from "openapi-types";
import type { AppEnv } from "../types.ts";
import { DOCS_CSP, renderDocsPage } from "./docsPage.ts";
import { publicOps } from "./operations.ts";

export type OpenApiDocument = OpenAPIV3_1.Document;

const TAGS: OpenAPIV3_1.TagObject[] = [
  { name: "WHIP", description: "Publishing (RFC 9725): one POST with the offer, then PATCH and DELETE on the session's secret URL." },
  { name: "WHEP", description: "Playing (draft-ietf-wish-whep): the session, its layers (layer extension) and its events (server-sent events extension)." },
  { name: "Rooms", description: "What is live, and its figures." },
  { name: "Recordings", description: "Files recorded while RECORD_ENABLED is on." },
  { name: "Captures", description: "Stats captures: one sample a second of a room, for the admin." },
  { name: "Admin", description: "Behind ADMIN_TOKEN." },
  { name: "Operations", description: "Probes, metrics and this document." },
  { name: "Web app", description: "The pages of the app embedded in the binary." },
];

export function openApiRoutes(app: Hono<AppEnv>, version: string): void {
  let document: Promise<OpenApiDocument> | undefined;
  const documentOf = () => {
    document ??= generateSpecs(app, {
      documentation: {
        info: {
          title: "roomcast",
          version,
          description:
            "A WebRTC SFU: WHIP publish, WHEP play, recordings, transcoding, admin APIs. Every refusal is JSON `{\"error\": \"...\"}` with a fitting status; docs/api.md has the whole contract in prose.",
        },
        tags: TAGS,
        components: {
          securitySchemes: {
            bearer: { type: "http", scheme: "bearer", description: "A room token, AUTH_TOKEN, a JWT (JWT_SECRET) or ADMIN_TOKEN" },
            authToken: { type: "apiKey", in: "header", name: "X-Auth-Token", description: "The same tokens, in a header of their own" },
            queryToken: { type: "apiKey", in: "query", name: "token", description: "The same tokens, where headers cannot be sent (EventSource, links)" },
          },
        },
      },
      // Its own path ends in ".json": not a static file to leave out.
      excludeStaticFile: false,
      defaultValidationErrorResponse: {
        description: "The request's path, query or body is invalid",
        // Every operation answers refusals with this component (schemas.ts ErrorSchema).
        content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
      },
    }) as Promise<OpenApiDocument>;
    document.catch(() => {
      document = undefined;
    });
    return document;
  };

  app.get("/api/openapi.json", ...publicOps.openapi, async (c) => c.json(await documentOf()));

  let page: string | undefined;
  app.get("/docs", ...publicOps.docs, async (c) => {
    page ??= renderDocsPage(await documentOf());
    return c.html(page, 200, { "Content-Security-Policy": DOCS_CSP, "X-Content-Type-Options": "nosniff" });
  });
}
