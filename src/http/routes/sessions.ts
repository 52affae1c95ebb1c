// WHIP (RFC 9725) and WHEP: POST /api/whip/publish/{room}, POST /api/whep/play/{room}, and the session URLs they
// hand out: PATCH (trickle ICE, ICE restart), DELETE. OPTIONS and 405s as the RFC asks.
import type { Context, Hono, MiddlewareHandler } from "hono";
import type { LayerList, LayerSwitch, SessionDeleted } from "../../api.ts";
import type { RoomAction } from "../../auth/authorizer.ts";
import { ROOM_NAME, type Config } from "../../config.ts";
import { HttpError, invalidRoomName, methodNotAllowed, notFound } from "../errors.ts";
import { AtCapacityError } from "../../room/errors.ts";
import type { Negotiated, Session } from "../../room/registry.ts";
import type { OriginRef } from "../../room/relay.ts";
import type { ParsedOffer } from "../../rtc/sdp.ts";
import type { ViewerSession } from "../../room/viewer.ts";
import type { RoomGrant } from "../../auth/clusterToken.ts";
import { forwardToSessionOwner } from "../forwarding.ts";
import { clusterPeer, GRANT_PARAM } from "../middleware/clusterAuth.ts";
import { NegotiationError } from "../../rtc/sessionPeer.ts";
import { parseSdpFrag, SdpFragError } from "../../rtc/sdpfrag.ts";
import type { AuthGuard } from "../middleware/auth.ts";
import { readOffer } from "../sdpBody.ts";
import { WHEP_EVENT_TYPES } from "../../room/whepFeed.ts";
import { layerOps, whepOps, whipOps } from "../openapi/operations.ts";
import { LayerSwitchBody } from "../openapi/schemas.ts";
import { body } from "../validate.ts";
import type { AppDeps, AppEnv } from "../types.ts";

interface Endpoint {
  base: string;
  action: RoomAction;
  kind: "publisher" | "viewer";
}

export const WHIP: Endpoint = { base: "/api/whip/publish", action: "publish", kind: "publisher" };
export const WHEP: Endpoint = { base: "/api/whep/play", action: "play", kind: "viewer" };

const SDPFRAG = "application/trickle-ice-sdpfrag";
/** The WHEP layer extension's link relation: where a viewer switches simulcast/transcoded layers live. */
const LAYER_REL = "urn:ietf:params:whep:ext:core:layer";
/** The WHEP server-sent events extension's link relation (routes/whepEvents.ts serves it). */
export const SSE_REL = "urn:ietf:params:whep:ext:core:server-sent-events";
/** The events Link a WHEP 201 carries for its session at `location`, with the events this server sends. */
export const eventsLink = (location: string) => `<${location}/events>; rel="${SSE_REL}"; events="${WHEP_EVENT_TYPES.join(",")}"`;
const MAX_SDPFRAG_BYTES = 64 * 1024;

export function roomParam(raw: string | undefined): string {
  if (raw === undefined || !ROOM_NAME.test(raw)) throw invalidRoomName();
  return raw;
}

function quote(v: string): string {
  return `"${v.replace(/["\\]/g, "")}"`;
}

/** One `Link: <url>; rel="ice-server"` value per configured ICE server (RFC 9725 §4.6). */
function iceServerLinks(config: Config): string[] {
  const links: string[] = [];
  for (const s of config.iceServers) {
    for (const url of s.urls) {
      let link = `<${url}>; rel="ice-server"`;
      if (s.username !== undefined && s.credential !== undefined) {
        link += `; username=${quote(s.username)}; credential=${quote(s.credential)}; credential-type="password"`;
      }
      links.push(link);
    }
  }
  return links;
}

function setLinks(c: Context, config: Config): void {
  for (const link of iceServerLinks(config)) c.header("Link", link, { append: true });
}

/**
 * OPTIONS on the POST endpoints: the CORS middleware answers the preflight; this adds what WHIP clients look for.
 * Registered before the CORS middleware so it can decorate its response.
 */
export function whipOptionsHeaders(config: Config): MiddlewareHandler<AppEnv> {
  return async function whipOptions(c, next) {
    await next();
    if (c.req.method !== "OPTIONS") return;
    const isSession = /^\/api\/(whip\/publish|whep\/play)\/[^/]+\/[^/]+$/.test(c.req.path);
    // The session's own resources ({Location}/layer, /events...) take neither an SDP nor an sdpfrag.
    if (!isSession && !/^\/api\/(whip\/publish|whep\/play)\/[^/]+$/.test(c.req.path)) return;
    c.res.headers.set(isSession ? "Accept-Patch" : "Accept-Post", isSession ? SDPFRAG : "application/sdp");
    if (!isSession) for (const link of iceServerLinks(config)) c.res.headers.append("Link", link);
  };
}

async function readFrag(c: Context): Promise<string> {
  const type = c.req.header("content-type")?.split(";")[0]?.trim().toLowerCase();
  if (type !== SDPFRAG) throw new HttpError(415, `content type must be ${SDPFRAG}`);
  const text = await c.req.text();
  if (text.length > MAX_SDPFRAG_BYTES) throw new HttpError(413, "request body too large");
  return text;
}

/**
 * 307 to the same path and query on another node (WHIP and WHEP clients repeat the POST there with the same body).
 * With auth on, the query also carries a grant for the room and action (clusterAuth.ts): the client's credentials
 * stay behind on a redirect to another origin. No body: a client that does not follow redirects has the Location.
 */
async function redirectTo(c: Context, deps: AppDeps, nodeUrl: string, grant: RoomGrant): Promise<Response> {
  const here = new URL(c.req.url);
  const target = new URL(here.pathname + here.search, nodeUrl);
  target.searchParams.delete(GRANT_PARAM);
  if (deps.cluster && (deps.authorizer.enabled || deps.authHook)) target.searchParams.set(GRANT_PARAM, await deps.cluster.grant(grant));
  c.header("Location", target.toString());
  return c.body(null, 307);
}

/**
 * A WHEP play: of a room here, as on one server; of a room whose origin is another node, through this node's
 * relay of it; at capacity, a 307 to the node with the most headroom that can take the viewer (503 only when no
 * node can). Another node's relay (a cluster token) is served here or not at all: never redirected or relayed on.
 */
async function playHere(
  c: Context,
  deps: AppDeps,
  room: string,
  offer: ParsedOffer,
  sdp: string,
  layer: string | undefined,
): Promise<Negotiated<ViewerSession> | Response> {
  const cluster = deps.cluster;
  const relayFor = clusterPeer(c);
  let origin: OriginRef | undefined;
  if (cluster && relayFor === undefined && !deps.registry.get(room)) origin = await cluster.originOf(room);
  try {
    return await deps.registry.play(room, offer, sdp, { layer, origin, relayFor });
  } catch (err) {
    if (!(err instanceof AtCapacityError) || !cluster || relayFor !== undefined || cluster.standalone) throw err;
    const pps = deps.registry.get(room)?.viewerPacketRate(layer) ?? 0;
    const target = await cluster.placeViewer(pps).catch(() => undefined);
    if (!target) throw err;
    deps.metrics.clusterRequests.labels("play_redirect").inc();
    deps.log.debug({ room, node: target.id }, "at capacity: viewer sent to another node");
    return redirectTo(c, deps, target.url, { room, action: "play" });
  }
}

export function sessionRoutes(app: Hono<AppEnv>, deps: AppDeps, guard: AuthGuard, ep: Endpoint): void {
  const elsewhere = (c: Context) => forwardToSessionOwner(c, deps);

  const sessionFor = (c: Context, room: string): Session => {
    const entry = deps.registry.session(c.req.param("session") ?? "");
    if (!entry || entry.room.name !== room || entry.session.kind !== ep.kind || entry.session.closed) {
      throw notFound("session not found");
    }
    return entry.session;
  };

  const ops = ep.kind === "publisher" ? whipOps : whepOps;
  app.post(`${ep.base}/:room`, ...ops.create, async (c) => {
    const room = roomParam(c.req.param("room"));
    const claims = await guard.room(c, room, ep.action);
    const { sdp, offer } = await readOffer(c);
    const layer = c.req.query("layer");
    if (layer !== undefined && !/^[A-Za-z0-9_-]{1,32}$/.test(layer)) throw new HttpError(400, "invalid layer name");
    let negotiated: Negotiated<Session>;
    if (ep.kind === "publisher") {
      // Claimed in the directory before negotiating: a room has one publisher cluster-wide.
      const route = await deps.cluster?.routePublish(room);
      if (route && !route.here) {
        deps.metrics.clusterRequests.labels("publish_redirect").inc();
        deps.log.debug({ room, node: route.node.id, reason: route.reason }, "publish sent to another node");
        return redirectTo(c, deps, route.node.url, { room, action: "publish", ladder: claims?.ladder });
      }
      try {
        // A token's ladder claim is the operator's word and beats the publisher's own ?ladder=.
        negotiated = await deps.registry.publish(room, offer, sdp, { ladder: claims?.ladder ?? c.req.query("ladder") });
      } catch (err) {
        await deps.cluster?.abandon(room);
        throw err;
      }
    } else {
      const played = await playHere(c, deps, room, offer, sdp, layer);
      if (played instanceof Response) return played;
      negotiated = played;
    }
    const { session, answer } = negotiated;
    session.clientAddress = c.env?.ip;
    session.log.info({ codecs: session.codecs.map((x) => x.mimeType), ip: c.env?.ip, layer }, `${ep.kind} session created`);
    const location = `${ep.base}/${room}/${session.id}`;
    c.header("Location", location);
    if (ep.kind === "viewer") {
      c.header("Link", `<${location}/layer>; rel="${LAYER_REL}"`, { append: true });
      if (deps.whepEvents) c.header("Link", eventsLink(location), { append: true });
    }
    c.header("Content-Type", "application/sdp");
    c.header("ETag", session.peer.etag);
    c.header("Accept-Patch", SDPFRAG);
    setLinks(c, deps.config);
    return c.body(answer, 201);
  });

  app.patch(`${ep.base}/:room/:session`, ...ops.patch, async (c) => {
    const room = roomParam(c.req.param("room"));
    await guard.room(c, room, ep.action);
    const forwarded = await elsewhere(c);
    if (forwarded) return forwarded;
    const session = sessionFor(c, room);
    const text = await readFrag(c);
    let frag;
    try {
      frag = parseSdpFrag(text);
    } catch (err) {
      if (err instanceof SdpFragError) throw new HttpError(400, `invalid sdpfrag: ${err.message}`);
      throw err;
    }
    const ifMatch = c.req.header("if-match")?.trim();
    const restart = frag.ufrag !== undefined && !session.peer.isRemoteUfrag(frag.ufrag);
    if (restart) {
      // An ICE restart must say If-Match: "*" (RFC 9725 §4.3.2); new credentials without it are not a trickle.
      if (ifMatch !== "*") throw new HttpError(ifMatch === undefined ? 422 : 412, "ICE restart needs If-Match: \"*\"");
      let answer: string;
      try {
        answer = await session.peer.restartIce(frag);
      } catch (err) {
        if (err instanceof NegotiationError) throw new HttpError(422, `ICE restart failed: ${err.message}`);
        throw err;
      }
      session.log.info("ICE restarted");
      c.header("ETag", session.peer.etag);
      c.header("Content-Type", SDPFRAG);
      return c.body(answer, 200);
    }
    if (ifMatch !== undefined && ifMatch !== "*" && ifMatch !== session.peer.etag) {
      throw new HttpError(412, "If-Match does not match the session's ETag");
    }
    if (ifMatch === "*") throw new HttpError(422, "If-Match: \"*\" is for ICE restarts, with new ice-ufrag and ice-pwd");
    await session.peer.addCandidates(frag);
    return c.body(null, 204);
  });

  app.delete(`${ep.base}/:room/:session`, ...ops.remove, async (c) => {
    const room = roomParam(c.req.param("room"));
    await guard.room(c, room, ep.action);
    const forwarded = await elsewhere(c);
    if (forwarded) return forwarded;
    const session = sessionFor(c, room);
    deps.registry.endSession(session.id, "DELETE by client");
    const deleted: SessionDeleted = { ok: true };
    return c.json(deleted, 200);
  });

  if (ep.kind === "viewer") {
    app.get(`${ep.base}/:room/:session/layer`, ...layerOps.list, async (c) => {
      const room = roomParam(c.req.param("room"));
      await guard.room(c, room, ep.action);
      const forwarded = await elsewhere(c);
      if (forwarded) return forwarded;
      const session = sessionFor(c, room);
      if (session.kind !== "viewer") throw notFound("session not found");
      const list: LayerList = { layers: session.layers, current: session.currentLayer ?? null };
      return c.json(list);
    });
    app.post(`${ep.base}/:room/:session/layer`, ...layerOps.switch, async (c) => {
      const room = roomParam(c.req.param("room"));
      await guard.room(c, room, ep.action);
      const forwarded = await elsewhere(c);
      if (forwarded) return forwarded;
      const session = sessionFor(c, room);
      if (session.kind !== "viewer") throw notFound("session not found");
      const fields = (await body(c, LayerSwitchBody)) ?? {};
      // `rid` is the WHEP draft's own name for it (its layer selection).
      const name = fields.encodingId ?? fields.rid ?? fields.layer;
      if (typeof name !== "string" || name === "") throw new HttpError(400, "body must name a layer: {\"encodingId\": \"l\"}");
      session.switchLayer(name);
      const switched: LayerSwitch = { layer: name, layers: session.layers };
      return c.json(switched, 200);
    });
  }

  app.on(["GET", "HEAD", "PUT", "DELETE", "PATCH"], `${ep.base}/:room`, methodNotAllowed("POST, OPTIONS"));
  app.on(["GET", "HEAD", "PUT", "POST"], `${ep.base}/:room/:session`, methodNotAllowed("PATCH, DELETE, OPTIONS"));
}
