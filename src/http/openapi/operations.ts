// Every operation of the HTTP API as the OpenAPI document describes it, each one the middlewares a route puts in
// front of its handler: its description (hono-openapi's describeRoute) and its validators (http/validate.ts, from
// the same schemas). A route file writes `app.get(path, ...ops.x, handler)`; test/unit/openapi.test.ts fails when a
// route has no operation here or an operation no route. docs/api.md has the prose; these link to its sections.
import type { MiddlewareHandler } from "hono";
import { describeRoute, resolver, type DescribeRouteOptions } from "hono-openapi";
import { z } from "zod";
import { jsonBody, params, query } from "../validate.ts";
import * as s from "./schemas.ts";

type Responses = NonNullable<DescribeRouteOptions["responses"]>;
type Security = DescribeRouteOptions["security"];

const DOCS = "docs/api.md";
const json = (schema: z.ZodType, description: string) => ({ description, content: { "application/json": { schema: resolver(schema) } } });
const text = (description: string, type = "text/plain") => ({ description, content: { [type]: { schema: { type: "string" as const } } } });
const refusal = (description: string) => json(s.ErrorSchema, description);

/** Room actions: a room token, AUTH_TOKEN, a JWT or ADMIN_TOKEN, as a Bearer token or X-Auth-Token (none when auth is off). */
const ROOM_AUTH: Security = [{ bearer: [] }, { authToken: [] }, {}];
/** Read-only listings also take ?token= (EventSource, links). */
const LISTING_AUTH: Security = [{ bearer: [] }, { authToken: [] }, { queryToken: [] }, {}];
const ADMIN_AUTH: Security = [{ bearer: [] }, { authToken: [] }];
const PUBLIC: Security = [];

const E401 = refusal("No token, or one that does not open this (after a fixed 200 ms delay)");
const E429 = refusal("Too many requests from this address; `Retry-After` says when to try again");

/** A query parameter the handler reads itself (the contract takes it as it comes), documented here. */
const queryParam = (name: string, description: string) => ({ in: "query" as const, name, required: false, schema: { type: "string" as const }, description });
const TOKEN_PARAM = queryParam("token", "The token, for clients that cannot send headers (EventSource, links)");

/** A tuple, not an array: spread into `app.get(path, ...op, handler)`, Hono's overloads need its length. */
function op<V extends MiddlewareHandler[]>(spec: DescribeRouteOptions, ...validators: V): [MiddlewareHandler, ...V] {
  return [describeRoute(spec), ...validators];
}

const sdpOffer = { required: true, content: { "application/sdp": { schema: { type: "string" as const, description: "An SDP offer (at most 1 MB)" } } } };
const sdpfrag = { required: true, content: { "application/trickle-ice-sdpfrag": { schema: { type: "string" as const, description: "RFC 8840 fragment (at most 64 KB)" } } } };

function sessionOps(kind: "publisher" | "viewer") {
  const tag = kind === "publisher" ? "WHIP" : "WHEP";
  const responses201: Responses = {
    201: {
      description:
        kind === "publisher"
          ? "The SDP answer; `Location` is the session's secret URL, with `ETag`, `Accept-Patch` and a `Link` per ICE server"
          : "The SDP answer; `Location` is the session's secret URL; `Link`s to its layer URL (rel `urn:ietf:params:whep:ext:core:layer`) and its events (rel `urn:ietf:params:whep:ext:core:server-sent-events`)",
      content: { "application/sdp": { schema: { type: "string" } } },
    },
    307: {
      description:
        kind === "publisher"
          ? "In a cluster: the room's origin is another node, or this one has no headroom for a new room. `Location` is the same path and query there (with `grant=` when auth is on); repeat the POST"
          : "In a cluster: this node is at capacity and another has headroom. `Location` is the same path and query there (with `grant=` when auth is on); repeat the POST",
    },
    400: refusal("Invalid room name, SDP, layer or ladder"),
    401: E401,
    403: refusal(kind === "publisher" ? "The token does not allow publishing here" : "The token does not allow playing here, or the room is full"),
    404: refusal("No active publisher in the room"),
    ...(kind === "publisher" ? { 409: refusal("The room already has a publisher") } : {}),
    413: refusal("The offer is over 1 MB"),
    415: refusal("Content-Type is not application/sdp"),
    429: E429,
    503: refusal("The server is at its CPU limit (`Retry-After`), shutting down, or (in a cluster) its directory is unreachable (`Retry-After`)"),
  };
  return {
    create: op(
      {
        tags: [tag],
        summary: kind === "publisher" ? "Publish to a room (WHIP, RFC 9725)" : "Play a room (WHEP)",
        description: `One POST with the full offer. OPTIONS on this URL answers CORS with \`Accept-Post: application/sdp\` and the ICE servers' \`Link\`s. See ${DOCS}, "POST /api/${kind === "publisher" ? "whip/publish" : "whep/play"}/{room}".`,
        security: ROOM_AUTH,
        requestBody: sdpOffer,
        responses: responses201,
        ...(kind === "publisher"
          ? { parameters: [queryParam("ladder", "This room's transcoding ladder, e.g. `360p:800k,180p:250k`, or `off` (a JWT's `ladder` claim wins)")] }
          : {}),
      },
      params(s.RoomParams),
      ...(kind === "viewer" ? [query(s.PlayQuery)] : []),
    ),
    patch: op(
      {
        tags: [tag],
        summary: "Trickle ICE candidates, or restart ICE",
        description: `A fragment with new ice-ufrag/ice-pwd and \`If-Match: *\` is an ICE restart (200 with the answer fragment and a new ETag); otherwise its candidates are added (204). See ${DOCS}, "PATCH {Location}".`,
        security: ROOM_AUTH,
        requestBody: sdpfrag,
        responses: {
          200: text("ICE restarted: the answer fragment, and a new `ETag`", "application/trickle-ice-sdpfrag"),
          204: { description: "Candidates added" },
          400: refusal("Not an sdpfrag"),
          401: E401,
          404: refusal("No such session"),
          412: refusal("`If-Match` does not match the session's ETag"),
          415: refusal("Content-Type is not application/trickle-ice-sdpfrag"),
          422: refusal("A kind of PATCH the server does not do"),
        },
      },
      params(s.SessionParams),
    ),
    remove: op(
      {
        tags: [tag],
        summary: `End the ${kind === "publisher" ? "publish" : "play"} session`,
        description: kind === "publisher" ? "The room closes with it, and its viewers are told." : "The viewer's resources are freed.",
        security: ROOM_AUTH,
        responses: { 200: json(s.SessionDeletedSchema, "Ended"), 401: E401, 404: refusal("No such session (a second DELETE)") },
      },
      params(s.SessionParams),
    ),
  };
}

export const whipOps = sessionOps("publisher");
export const whepOps = sessionOps("viewer");

export const layerOps = {
  list: op(
    {
      tags: ["WHEP"],
      summary: "The session's layers",
      description: "The simulcast and transcoded layers the viewer may pick, and the one it is on (WHEP layer extension).",
      security: ROOM_AUTH,
      responses: { 200: json(s.LayerListSchema, "Its layers"), 401: E401, 404: refusal("No such session") },
    },
    params(s.SessionParams),
  ),
  switch: op(
    {
      tags: ["WHEP"],
      summary: "Move the session to a layer",
      description: "The viewer moves at the layer's next keyframe. The layer is named by `encodingId` (or `rid`, or `layer`).",
      security: ROOM_AUTH,
      responses: { 200: json(s.LayerSwitchSchema, "Moving"), 400: refusal("Not JSON, or no such layer"), 401: E401, 404: refusal("No such session") },
    },
    params(s.SessionParams),
    jsonBody(s.LayerSwitchBody, { maxBytes: 4096, notJson: 'body must be JSON like {"encodingId": "l"}' }),
  ),
};

export const whepEventOps = {
  create: op(
    {
      tags: ["WHEP"],
      summary: "Create the session's event stream",
      description:
        'The WHEP server-sent events extension (draft-ietf-wish-whep-02): the body lists the events wanted; the answer\'s `Location` is the stream to GET. Events: `active` and `inactive` (the publication started or stopped: the publisher connected and sending, or gone or silent for 3 s), `layers` (`{"<m-line>": [{"rid": "h", "bitrate": 1200000}, ...]}`), `viewercount` (`{"viewercount": 3}`).',
      security: ROOM_AUTH,
      responses: {
        201: json(z.object({ location: z.string(), events: z.array(z.string()) }), "Created; `Location` is the stream"),
        400: refusal("Not a JSON list of events this server sends"),
        401: E401,
        404: refusal("No such session"),
        413: refusal("Body over 4 KB"),
      },
    },
    params(s.SessionParams),
    jsonBody(s.WhepEventList, { maxBytes: 4096, notJson: 'body must be a JSON array of events, e.g. ["active","inactive","layers","viewercount"]', optional: true }),
  ),
  stream: op(
    {
      tags: ["WHEP"],
      summary: "The session's events (text/event-stream)",
      description:
        "The long pull: the current state at once (`active` if the publication is, the layers, the viewer count), then what changes; one line of JSON data per event. It ends with the session, with a last `inactive` when the publication ended too. Its secret URL is the authorization (EventSource cannot send a token).",
      security: PUBLIC,
      responses: { 200: text("The event stream", "text/event-stream"), 404: refusal("No such session or stream (after a DELETE, or once the session ended)") },
    },
    params(s.EventStreamParams),
  ),
  remove: op(
    {
      tags: ["WHEP"],
      summary: "Delete the event stream",
      security: PUBLIC,
      responses: { 200: json(s.SessionDeletedSchema, "Deleted; its URL answers 404 from now on"), 404: refusal("No such session or stream") },
    },
    params(s.EventStreamParams),
  ),
};

export const publicOps = {
  healthz: op({ tags: ["Operations"], summary: "Liveness probe", security: PUBLIC, responses: { 200: text("`ok`") } }),
  health: op({
    tags: ["Operations"],
    summary: "Health as JSON",
    description: "Status, uptime, open rooms, their viewers and the version; nothing secret.",
    security: PUBLIC,
    responses: { 200: json(s.HealthSchema, "The server is up") },
  }),
  metrics: op({ tags: ["Operations"], summary: "Prometheus metrics", description: `Every metric is listed in ${DOCS}, "GET /metrics".`, security: PUBLIC, responses: { 200: text("Prometheus text format") } }),
  bootstrap: op({
    tags: ["Rooms"],
    summary: "What the web app needs to start",
    security: PUBLIC,
    responses: { 200: json(s.openObject("Bootstrap", `authEnabled, recordEnabled, iceServers, features, version (${DOCS}, "GET /api/bootstrap")`), "Settings") },
  }),
  openapi: op({ tags: ["Operations"], summary: "This document (OpenAPI 3.1)", security: PUBLIC, responses: { 200: json(z.looseObject({}), "The OpenAPI document") } }),
  docs: op({ tags: ["Operations"], summary: "This document as a page", security: PUBLIC, responses: { 200: text("HTML", "text/html") } }),
};

export const roomOps = {
  list: op(
    {
      tags: ["Rooms"],
      summary: "Open rooms",
      description: "Only the rooms the token opens.",
      security: LISTING_AUTH,
      responses: { 200: json(z.array(s.RoomSummarySchema), "The rooms"), 401: E401 },
    },
  ),
  details: op(
    {
      tags: ["Rooms"],
      summary: "One room: tracks, layers, transcoding, publisher, viewers",
      security: ROOM_AUTH,
      responses: {
        200: json(s.openObject("RoomDetails", `The room's tracks, layers, transcoder, publisher and viewers with their counters (${DOCS}, "GET /api/rooms/{room}")`), "The room"),
        400: refusal("Invalid room name"),
        401: E401,
        404: refusal("Room not found"),
      },
    },
    params(s.RoomParams),
  ),
  close: op(
    {
      tags: ["Admin"],
      summary: "Close a room",
      description: "Disconnects its publisher and viewers.",
      security: ADMIN_AUTH,
      responses: { 200: json(s.RoomClosedSchema, "Closed"), 400: refusal("Invalid room name"), 401: E401, 404: refusal("Room not found"), 429: E429 },
    },
    params(s.RoomParams),
  ),
  events: op(
    {
      tags: ["Rooms"],
      summary: "Live room events (text/event-stream)",
      description: `rooms, room-opened, room-closed, viewers, and one stats event per room a second (${DOCS}, "GET /api/events").`,
      security: LISTING_AUTH,
      parameters: [TOKEN_PARAM],
      responses: { 200: text("The event stream", "text/event-stream"), 400: refusal("Invalid room name"), 401: E401 },
    },
    query(s.EventsQuery),
  ),
};

export const recordOps = {
  list: op(
    {
      tags: ["Recordings"],
      summary: "Recordings",
      security: LISTING_AUTH,
      parameters: [queryParam("room", "Only this room's recordings"), TOKEN_PARAM],
      responses: { 200: json(z.array(s.RecordListItemSchema), "The recordings the token may see"), 400: refusal("Invalid room name"), 401: E401, 404: refusal("Recording is disabled") },
    },
  ),
  file: op(
    {
      tags: ["Recordings"],
      summary: "Download a recording (Range; HEAD too)",
      security: LISTING_AUTH,
      parameters: [TOKEN_PARAM],
      responses: {
        200: { description: "The file", content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } },
        206: { description: "The range asked for" },
        401: E401,
        404: refusal("No such recording"),
        416: { description: "The range is outside the file" },
      },
    },
    params(s.RecordParams),
  ),
  remove: op(
    {
      tags: ["Recordings"],
      summary: "Delete a recording",
      security: ADMIN_AUTH,
      responses: { 200: json(z.object({ deleted: z.string() }), "Deleted"), 401: E401, 404: refusal("No such recording"), 409: refusal("Still being recorded") },
    },
    params(s.RecordParams),
  ),
};

const WEBHOOK_BODY = 'body must be JSON like {"url": "https://...", "events": ["room.opened"]}';

export const webhookOps = {
  list: op({ tags: ["Admin"], summary: "Webhook receivers, with their counters", security: ADMIN_AUTH, responses: { 200: json(z.array(s.WebhookReceiverSchema), "The receivers"), 401: E401 } }),
  add: op(
    {
      tags: ["Admin"],
      summary: "Add a webhook receiver",
      description: `Events are POSTed to it, signed with WEBHOOK_SECRET (docs/webhooks.md).`,
      security: ADMIN_AUTH,
      responses: {
        201: json(s.WebhookReceiverSchema, "Added; `Location` is its URL"),
        400: refusal("Not a registration"),
        401: E401,
        409: refusal("Already registered, or too many receivers"),
        413: refusal("Body over 16 KB"),
      },
    },
    jsonBody(s.WebhookRegistration, { maxBytes: 16 * 1024, notJson: WEBHOOK_BODY }),
  ),
  remove: op(
    {
      tags: ["Admin"],
      summary: "Remove a webhook receiver",
      description: "A WEBHOOK_URLS receiver comes back at the next start.",
      security: ADMIN_AUTH,
      responses: { 200: json(z.object({ deleted: z.string(), source: z.enum(["env", "api"]), untilRestart: z.literal(true).optional() }), "Removed"), 401: E401, 404: refusal("No such receiver") },
    },
    params(s.WebhookParams),
  ),
  test: op(
    {
      tags: ["Admin"],
      summary: "Send a test event to a receiver",
      security: ADMIN_AUTH,
      responses: { 200: json(s.WebhookTestSchema, "What the receiver answered"), 401: E401, 404: refusal("No such receiver") },
    },
    params(s.WebhookParams),
  ),
};

export const adminSessionOps = {
  list: op({
    tags: ["Admin"],
    summary: "Every WHIP and WHEP session",
    description: "By public id, with its client address, codecs, counters, RTT, loss and layer.",
    security: ADMIN_AUTH,
    responses: { 200: json(z.array(s.AdminSessionSchema), "The sessions"), 401: E401 },
  }),
  remove: op(
    {
      tags: ["Admin"],
      summary: "Disconnect a session",
      description: "As a DELETE on its Location would: a publisher's room closes with it.",
      security: ADMIN_AUTH,
      responses: { 200: json(s.AdminSessionClosedSchema, "Disconnected"), 401: E401, 404: refusal("Session not found") },
    },
    params(s.AdminSessionParams),
  ),
};

const CAPTURE_BODY = 'body must be JSON like {"room": "demo", "maxSeconds": 600}';

export const captureOps = {
  list: op({ tags: ["Captures"], summary: "Stats captures, running and saved", security: ADMIN_AUTH, responses: { 200: json(z.array(s.CaptureSummarySchema), "Newest first"), 401: E401 } }),
  start: op(
    {
      tags: ["Captures"],
      summary: "Start capturing a room's stats",
      description:
        "One sample a second (per track and layer: bitrate, frame rate, packets, loss; the viewers' RTT and loss; viewers per layer) and the timeline's events, saved to DATA_DIR/captures every few seconds and when it ends.",
      security: ADMIN_AUTH,
      responses: {
        201: json(s.CaptureStartedSchema, "Started; `Location` is its URL"),
        400: refusal("Not JSON, an invalid room name or maxSeconds"),
        401: E401,
        404: refusal("Room not found"),
        409: refusal("The room is being captured already, or as many captures are kept as allowed"),
        413: refusal("Body over 4 KB"),
      },
    },
    jsonBody(s.CaptureStart, { maxBytes: 4096, notJson: CAPTURE_BODY }),
  ),
  get: op(
    {
      tags: ["Captures"],
      summary: "A capture: its meta, samples and events",
      description: "A running capture's samples so far.",
      security: ADMIN_AUTH,
      parameters: [queryParam("download", "Present: answered as an attachment (`Content-Disposition`)")],
      responses: { 200: json(s.openObject("CaptureFile", `The summary's fields, intervalMs, version, samples and events (${DOCS}, "GET /api/admin/captures/{id}")`), "The capture"), 401: E401, 404: refusal("Capture not found") },
    },
    params(s.CaptureParams),
  ),
  stop: op(
    {
      tags: ["Captures"],
      summary: "Stop a capture",
      description: "Saved for good; a stopped one is left as it is.",
      security: ADMIN_AUTH,
      responses: { 200: json(s.CaptureSummarySchema, "Stopped"), 401: E401, 404: refusal("Capture not found") },
    },
    params(s.CaptureParams),
  ),
  remove: op(
    {
      tags: ["Captures"],
      summary: "Delete a capture",
      description: "A running one is stopped first.",
      security: ADMIN_AUTH,
      responses: { 200: json(z.object({ deleted: z.string() }), "Deleted"), 401: E401, 404: refusal("Capture not found") },
    },
    params(s.CaptureParams),
  ),
};

// The pages take any path parameter: the app itself tells a person what is wrong with a room name or an id.
const page = (summary: string) => op({ tags: ["Web app"], summary, security: PUBLIC, responses: { 200: text("The web app's page", "text/html") } });

export const webOps = {
  home: page("Rooms and recordings"),
  play: page("The player"),
  publish: page("The publisher"),
  captures: page("Stats captures (admin)"),
  capture: page("One capture's graphs (admin)"),
  file: op({ tags: ["Web app"], summary: "A bundled script or stylesheet of the web app", security: PUBLIC, responses: { 200: { description: "The file" }, 404: refusal("Not found") } }),
};
