// The rooms as captures read them: the registry's rooms, counters and events, in the sampler's terms. Read once a
// second per captured room, so it may build small objects; the forwarding path only counts.
import type { RoomRegistry } from "../room/registry.ts";
import type { Room } from "../room/room.ts";
import type { CaptureRoomEvent, CaptureRooms } from "./captures.ts";
import type { RoomSnapshot, ViewerSnapshot } from "./sampler.ts";

export function snapshotOf(room: Room, at: number): RoomSnapshot {
  const publisher = room.publisher && !room.publisher.closed ? room.publisher : undefined;
  const viewers: ViewerSnapshot[] = [];
  for (const v of room.viewers.values()) {
    let rtt = 0;
    let rtts = 0;
    let lost: number | null = null;
    for (const s of v.senderStats()) {
      if (s.rttMs !== null) {
        rtt += s.rttMs;
        rtts++;
      }
      // A viewer is as lossy as its worst stream.
      if (s.fractionLost !== null) lost = Math.max(lost ?? 0, s.fractionLost);
    }
    viewers.push({ id: v.publicId, layer: v.currentLayer ?? null, rttMs: rtts > 0 ? rtt / rtts : null, fractionLost: lost });
  }
  return {
    at,
    publisherState: publisher?.state ?? null,
    tracks: (publisher?.tracks ?? []).map((t) => ({
      index: t.index,
      kind: t.kind,
      codec: t.codec.mimeType,
      packets: t.counters.packets,
      lost: t.counters.lost,
      layers: t.layers.map((l) => ({
        name: l.name,
        rendition: l.rendition,
        bytes: l.counters.bytes,
        packets: l.counters.packets,
        frames: l.counters.frames,
        viewers: t.viewersOn(l),
      })),
    })),
    viewers,
    transcoder: room.transcoderState,
  };
}

export function registryCaptureRooms(registry: RoomRegistry): CaptureRooms {
  return {
    snapshot(name) {
      const room = registry.get(name);
      return room && !room.closed ? snapshotOf(room, Date.now()) : undefined;
    },
    subscribe(listener: (e: CaptureRoomEvent) => void) {
      return registry.subscribe(listener);
    },
  };
}
