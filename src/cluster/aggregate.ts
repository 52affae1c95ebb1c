// The cluster's room list from every node's presence: the origin's counts, viewers summed over nodes.
import type { NodePresence } from "./backend.ts";
import type { ClusterRoom } from "./directory.ts";

export function aggregateRooms(presence: readonly NodePresence[]): ClusterRoom[] {
  const rooms = new Map<string, ClusterRoom>();
  // Node order decides which of two nodes that both say "origin" (for a heartbeat, while a claim moves) is shown.
  const byNode = [...presence].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  for (const { node, rooms: served } of byNode) {
    for (const p of served) {
      let room = rooms.get(p.room);
      if (!room) {
        room = { name: p.room, origin: null, hasPublisher: false, tracks: 0, layers: 0, subscribers: 0, nodes: [] };
        rooms.set(p.room, room);
      }
      if (p.origin && room.origin === null) {
        room.origin = node;
        room.hasPublisher = p.hasPublisher;
        room.tracks = p.tracks;
        room.layers = p.layers;
        if (p.bitrate !== undefined) room.bitrate = p.bitrate;
        if (p.liveSince !== undefined) room.liveSince = p.liveSince;
      }
      room.subscribers += p.viewers;
      room.nodes.push({ node, viewers: p.viewers });
    }
  }
  return [...rooms.values()].sort((a, b) => a.name.localeCompare(b.name));
}
