// The request schemas the HTTP layer validates with (paths, queries, JSON bodies), and the answers' schemas the
// OpenAPI document shows, in zod. A refusal's message is the schema's own (`error`), the one the contract has
// always sent: the validators (http/validate.ts) answer 400 {"error": <the first issue's message>}. Answer schemas
// are checked against src/api.ts's types at compile time (`satisfies`), so the document cannot drift from them.
import { z } from "zod";
import type { AdminSession, AdminSessionClosed, CaptureStarted, CaptureSummary, ErrorBody, Health, LayerList, LayerSwitch, RecordListItem, RoomClosed, RoomSummary, SessionDeleted } from "../../api.ts";
import { httpUrlProblem, ROOM_NAME } from "../../config.ts";
import { WEBHOOK_EVENT_TYPES } from "../../webhooks/events.ts";
import type { ReceiverInfo, TestResult } from "../../webhooks/receiver.ts";
import { WHEP_EVENT_TYPES } from "../../room/whepFeed.ts";

/** Longest webhook URL a registration may name. */
export const MAX_WEBHOOK_URL_LENGTH = 2048;
const LAYER_NAME = /^[A-Za-z0-9_-]{1,32}$/;

// ---- path parameters ---------------------------------------------------------------------------------------

export const RoomName = z
  .string({ error: "invalid room name" })
  .regex(ROOM_NAME, { error: "invalid room name" })
  .describe("Room name, `^[A-Za-z0-9_-]{1,64}$`");
const Secret = (what: string) => z.string().describe(what);

export const RoomParams = z.object({ room: RoomName });
export const SessionParams = z.object({ room: RoomName, session: Secret("The session's secret id, from its `Location`") });
export const EventStreamParams = SessionParams.extend({ stream: Secret("The event stream's secret id, from the `Location` its POST answered") });
export const RecordParams = z.object({ name: z.string().describe("A recording's file name, as GET /api/records lists it") });
export const WebhookParams = z.object({ id: z.string().describe("The receiver's id: `env1`, `env2`... for WEBHOOK_URLS, random for the API's") });
export const CaptureParams = z.object({ id: z.string().describe("A capture id as the server made it: `20261208T024215Z-1a2b3c4d`") });
export const AdminSessionParams = z.object({ id: z.string().describe("The session's public id, as GET /api/admin/sessions lists it") });

// ---- queries: those the contract checks (others, like ?token=, are documented in operations.ts) ------------

export const PlayQuery = z.object({
  layer: z
    .string({ error: "invalid layer name" })
    .regex(LAYER_NAME, { error: "invalid layer name" })
    .optional()
    .describe("Start on this simulcast or transcoded layer, `^[A-Za-z0-9_-]{1,32}$`"),
});
export const EventsQuery = z.object({ room: RoomName.optional().describe("Only this room's events") });

// ---- JSON bodies -------------------------------------------------------------------------------------------

const EVENTS_LIST = `"events" must be a non-empty list of: ${WEBHOOK_EVENT_TYPES.join(", ")}`;

export const WebhookRegistration = z
  .object(
    {
      url: z
        .string({ error: '"url" must be a string' })
        .min(1, { error: '"url" must be a string' })
        .max(MAX_WEBHOOK_URL_LENGTH, { error: `"url" is longer than ${MAX_WEBHOOK_URL_LENGTH} characters` })
        .superRefine((url, ctx) => {
          const problem = url.length <= MAX_WEBHOOK_URL_LENGTH ? httpUrlProblem(url) : undefined;
          if (problem) ctx.addIssue({ code: "custom", message: `"url": ${problem}` });
        })
        .describe("Where events are POSTed: an http:// or https:// URL"),
      events: z
        .array(z.enum(WEBHOOK_EVENT_TYPES, { error: (iss) => `unknown event ${JSON.stringify(iss.input)}: events are ${WEBHOOK_EVENT_TYPES.join(", ")}` }), {
          error: EVENTS_LIST,
        })
        .min(1, { error: EVENTS_LIST })
        .nullish()
        .describe("The events it wants; absent or null: all of them"),
    },
    { error: 'body must be a JSON object like {"url": "https://..."}' },
  )
  .meta({ id: "WebhookRegistration" });

export const CaptureStart = z
  .object(
    {
      room: z.string({ error: "invalid room name" }).regex(ROOM_NAME, { error: "invalid room name" }).describe("The open room to capture"),
      maxSeconds: z
        .number({ error: '"maxSeconds" must be a whole number' })
        .int({ error: '"maxSeconds" must be a whole number' })
        .optional()
        .describe("Longest the capture runs, 1 to 3600 s (default 600)"),
    },
    { error: 'body must be a JSON object like {"room": "demo", "maxSeconds": 600}' },
  )
  .meta({ id: "CaptureStart" });

export const LayerSwitchBody = z
  .object(
    {
      encodingId: z.string().optional().describe("The layer to move to (the name GET {Location}/layer lists)"),
      rid: z.string().optional().describe("The same, as the WHEP draft's layer selection names it"),
      layer: z.string().optional().describe("The same, older name"),
    },
    { error: 'body must be JSON like {"encodingId": "l"}' },
  )
  .nullable()
  .meta({ id: "LayerSwitchRequest" });

export const WhepEventList = z
  .array(z.enum(WHEP_EVENT_TYPES, { error: (iss) => `unknown event ${JSON.stringify(iss.input)}: this server sends ${WHEP_EVENT_TYPES.join(",")}` }), {
    error: `body must be a JSON array of event names, a subset of ${WHEP_EVENT_TYPES.join(",")}`,
  })
  .optional()
  .describe("The events wanted, a subset of the Link's `events`; no body: all of them")
  .meta({ id: "WhepEventList" });

// ---- answers (documentation; the types in src/api.ts are what the code builds) ------------------------------

export const ErrorSchema = z.object({ error: z.string() }).meta({ id: "Error" }) satisfies z.ZodType<ErrorBody>;

export const HealthSchema = z
  .object({
    status: z.literal("ok"),
    uptime: z.number().int().describe("Whole seconds since the server started"),
    rooms: z.number().int(),
    viewers: z.number().int(),
    version: z.string(),
    node: z.string().optional().describe("In a cluster only: this node's id"),
    cluster: z.enum(["joined", "detached"]).optional().describe("In a cluster only: whether the node reaches its directory"),
  })
  .meta({ id: "Health" }) satisfies z.ZodType<Health>;

export const RoomSummarySchema = z
  .object({ name: z.string(), hasPublisher: z.boolean(), tracks: z.number().int(), subscribers: z.number().int() })
  .meta({ id: "RoomSummary" }) satisfies z.ZodType<RoomSummary>;

export const RoomClosedSchema = z.object({ closed: z.string() }) satisfies z.ZodType<RoomClosed>;
export const SessionDeletedSchema = z.object({ ok: z.literal(true) }) satisfies z.ZodType<SessionDeleted>;
export const LayerListSchema = z.object({ layers: z.array(z.string()), current: z.string().nullable() }) satisfies z.ZodType<LayerList>;
export const LayerSwitchSchema = z.object({ layer: z.string(), layers: z.array(z.string()) }) satisfies z.ZodType<LayerSwitch>;

export const RecordListItemSchema = z
  .object({
    name: z.string(),
    size: z.number().int(),
    modTime: z.string(),
    url: z.string(),
    room: z.string(),
    kind: z.enum(["video", "audio", "session"]),
    inProgress: z.boolean().describe("Still being written: not deletable, and its size grows"),
  })
  .meta({ id: "Recording" }) satisfies z.ZodType<RecordListItem>;

const CaptureState = z.enum(["running", "stopped", "interrupted"]);
const StopReason = z.enum(["stopped", "max-duration", "size-limit", "room-closed", "server-shutdown"]);

export const CaptureStartedSchema = z
  .object({ id: z.string(), room: z.string(), startedAt: z.string(), state: CaptureState, maxSeconds: z.number().int() })
  .meta({ id: "CaptureStarted" }) satisfies z.ZodType<CaptureStarted>;

export const CaptureSummarySchema = z
  .object({
    id: z.string(),
    room: z.string(),
    startedAt: z.string(),
    stoppedAt: z.string().nullable(),
    state: CaptureState,
    stopReason: StopReason.nullable(),
    maxSeconds: z.number().int(),
    sampleCount: z.number().int(),
  })
  .meta({ id: "CaptureSummary" }) satisfies z.ZodType<CaptureSummary>;

export const AdminSessionSchema = z
  .object({
    id: z.string(),
    kind: z.enum(["publisher", "viewer"]),
    room: z.string(),
    state: z.string(),
    createdAt: z.string(),
    clientAddress: z.string().nullable(),
    codecs: z.array(z.string()),
    packetsReceived: z.number().int(),
    bytesReceived: z.number().int(),
    packetsSent: z.number().int(),
    bytesSent: z.number().int(),
    packetsLost: z.number().int().nullable(),
    rttMs: z.number().nullable(),
    fractionLost: z.number().nullable(),
    layer: z.string().nullable(),
  })
  .meta({ id: "AdminSession" }) satisfies z.ZodType<AdminSession>;

export const AdminSessionClosedSchema = z.object({ closed: z.string() }) satisfies z.ZodType<AdminSessionClosed>;

export const WebhookReceiverSchema = z
  .object({
    id: z.string(),
    url: z.string(),
    source: z.enum(["env", "api"]),
    events: z.array(z.enum(WEBHOOK_EVENT_TYPES)).nullable(),
    sent: z.number().int(),
    failed: z.number().int(),
    dropped: z.number().int(),
    queued: z.number().int(),
    inFlight: z.number().int(),
    lastStatus: z.number().int().nullable(),
    lastError: z.string().nullable(),
    lastErrorAt: z.string().nullable(),
    lastSentAt: z.string().nullable(),
  })
  .meta({ id: "WebhookReceiver" }) satisfies z.ZodType<ReceiverInfo>;

export const WebhookTestSchema = z.object({
  event: z.string(),
  ok: z.boolean(),
  status: z.number().int().nullable(),
  error: z.string().nullable(),
  durationMs: z.number(),
}) satisfies z.ZodType<TestResult>;

/** Shapes too wide to restate here: the document points at docs/api.md, where every field is described. */
export const openObject = (id: string, description: string) => z.looseObject({}).describe(description).meta({ id });
