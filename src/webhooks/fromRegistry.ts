// Rooms and sessions as webhook events: one listener on the registry, the same feed the live events page uses.
import type { RegistryEvent, RoomRegistry } from "../room/registry.ts";
import type { Webhooks } from "./webhooks.ts";

/** Returns the unsubscribe. */
export function emitRegistryWebhooks(registry: RoomRegistry, webhooks: Webhooks): () => void {
  return registry.subscribe((e: RegistryEvent) => {
    switch (e.type) {
      case "room-opened":
        webhooks.emit("room.opened", { room: e.room });
        return;
      case "room-closed":
        webhooks.emit("room.closed", { room: e.room });
        return;
      case "session-opened":
      case "session-closed": {
        const joined = e.type === "session-opened";
        if (e.kind === "publisher") {
          webhooks.emit(joined ? "publisher.joined" : "publisher.left", { room: e.room, session: e.session });
        } else {
          // The room has already counted (or forgotten) this viewer.
          const viewers = registry.get(e.room)?.viewers.size ?? 0;
          webhooks.emit(joined ? "viewer.joined" : "viewer.left", { room: e.room, session: e.session, viewers });
        }
        return;
      }
    }
  });
}
