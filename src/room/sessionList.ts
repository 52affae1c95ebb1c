// Every session as the admin's list shows it (GET /api/admin/sessions): its public id, never its secret one.
import type { AdminSession } from "../api.ts";
import type { Session } from "./registry.ts";
import type { Room } from "./room.ts";

export function adminSessionOf(session: Session, room: Room): AdminSession {
  const common = {
    id: session.publicId,
    kind: session.kind,
    room: room.name,
    state: session.state,
    createdAt: session.createdAt.toISOString(),
    clientAddress: session.clientAddress ?? null,
    codecs: session.codecs.map((c) => c.mimeType),
  };
  if (session.kind === "publisher") {
    let packets = 0;
    let bytes = 0;
    let lost = 0;
    for (const t of session.tracks) {
      packets += t.counters.packets;
      bytes += t.counters.bytes;
      lost += t.counters.lost;
    }
    return { ...common, packetsReceived: packets, bytesReceived: bytes, packetsSent: 0, bytesSent: 0, packetsLost: lost, rttMs: null, fractionLost: null, layer: null };
  }
  let packets = 0;
  let bytes = 0;
  let lost: number | null = null;
  let rtt = 0;
  let rtts = 0;
  let fraction: number | null = null;
  for (const s of session.senderStats()) {
    packets += s.packetsSent;
    bytes += s.bytesSent;
    if (s.packetsLost !== null) lost = (lost ?? 0) + s.packetsLost;
    if (s.rttMs !== null) {
      rtt += s.rttMs;
      rtts++;
    }
    if (s.fractionLost !== null) fraction = Math.max(fraction ?? 0, s.fractionLost);
  }
  return {
    ...common,
    packetsReceived: 0,
    bytesReceived: 0,
    packetsSent: packets,
    bytesSent: bytes,
    packetsLost: lost,
    rttMs: rtts > 0 ? Math.round((rtt / rtts) * 10) / 10 : null,
    fractionLost: fraction,
    layer: session.currentLayer ?? null,
  };
}
