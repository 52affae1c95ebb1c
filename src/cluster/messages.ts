// Checks what arrives from outside the process (Redis values and pub/sub, IPC) before anything trusts it: a
// stray or malformed value is dropped and logged, never thrown at the event loop.
import type { ClusterMessage, NodeInfo, NodeLoad, RoomPresence } from "./directory.ts";
import { isNodeId } from "./ids.ts";

/** The room name rule of the HTTP contract. */
const ROOM = /^[A-Za-z0-9_-]{1,64}$/;
/** Enough for a reason line or a recording's file name; a longer one is not ours. */
const MAX_TEXT = 1024;

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;
const isText = (v: unknown): v is string => typeof v === "string" && v.length <= MAX_TEXT;
export const isRoomName = (v: unknown): v is string => typeof v === "string" && ROOM.test(v);

export function parseLoad(v: unknown): NodeLoad | undefined {
  if (!isObj(v)) return undefined;
  const { cpu, viewers, rooms, headroomPps } = v;
  if (!isCount(cpu) || !isCount(viewers) || !isCount(rooms) || !isCount(headroomPps)) return undefined;
  return { cpu, viewers, rooms, headroomPps };
}

export function parseNodeInfo(v: unknown): NodeInfo | undefined {
  if (!isObj(v)) return undefined;
  const load = parseLoad(v["load"]);
  const { id, url, startedAt } = v;
  if (!isNodeId(id) || !isText(url) || !isCount(startedAt) || !load) return undefined;
  return { id, url, startedAt, load };
}

export function parsePresence(v: unknown): RoomPresence | undefined {
  if (!isObj(v)) return undefined;
  const { room, origin, hasPublisher, tracks, viewers, layers } = v;
  if (!isRoomName(room) || typeof origin !== "boolean" || typeof hasPublisher !== "boolean") return undefined;
  if (!isCount(tracks) || !isCount(viewers) || !isCount(layers)) return undefined;
  const p: RoomPresence = { room, origin, hasPublisher, tracks, viewers, layers };
  // Figures for the live views only: one that does not parse is left out, the entry is kept.
  if (isCount(v["bitrate"])) p.bitrate = v["bitrate"];
  if (isCount(v["liveSince"])) p.liveSince = v["liveSince"];
  return p;
}

/** A node's presence list; entries that do not parse are left out. */
export function parsePresenceList(v: unknown): RoomPresence[] {
  if (!Array.isArray(v)) return [];
  const out: RoomPresence[] = [];
  for (const entry of v) {
    const p = parsePresence(entry);
    if (p) out.push(p);
  }
  return out;
}

export function parseClusterMessage(v: unknown): ClusterMessage | undefined {
  if (!isObj(v)) return undefined;
  switch (v["type"]) {
    case "close-room":
      return isRoomName(v["room"]) && isText(v["reason"]) ? { type: "close-room", room: v["room"], reason: v["reason"] } : undefined;
    case "delete-recording":
      return isText(v["name"]) && v["name"] !== "" ? { type: "delete-recording", name: v["name"] } : undefined;
    case "end-session":
      return isText(v["sessionId"]) && isText(v["reason"])
        ? { type: "end-session", sessionId: v["sessionId"], reason: v["reason"] }
        : undefined;
    case "room-opened":
    case "room-closed":
      return isRoomName(v["room"]) && isNodeId(v["node"]) ? { type: v["type"], room: v["room"], node: v["node"] } : undefined;
    case "node-left":
      return isNodeId(v["node"]) ? { type: "node-left", node: v["node"] } : undefined;
    default:
      return undefined;
  }
}

/** What travels on the bus: the message and the node that sent it. */
export interface BusEnvelope {
  from: string;
  msg: ClusterMessage;
}

export function parseEnvelope(v: unknown): BusEnvelope | undefined {
  if (!isObj(v) || !isNodeId(v["from"])) return undefined;
  const msg = parseClusterMessage(v["msg"]);
  return msg ? { from: v["from"], msg } : undefined;
}

/** JSON.parse that answers undefined instead of throwing. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
