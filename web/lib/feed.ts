// The live feed of GET /api/events, which the pages use instead of polling. EventSource reconnects by itself after
// network errors; an answer that is not a stream (401/403) ends it for good, so the feed then asks the API why and
// reports that, and starts again when the token changes.
import type { RoomStats } from "../../src/api.ts";
import { ApiError, errorFrom, getToken, onTokenChange } from "./api.ts";

export type { RoomStats };

export interface FeedHandlers {
  /** The full list of rooms this client may see: on connect and on every reconnect. */
  rooms?(rooms: RoomStats[]): void;
  opened?(room: RoomStats): void;
  closed?(room: string): void;
  viewers?(room: string, viewers: number): void;
  stats?(room: RoomStats): void;
  /**
   * "live" while events flow; "retrying" while disconnected; "refused" with the reason (bad token); "paused" while
   * the tab is hidden.
   */
  status?(status: "live" | "retrying" | "refused" | "paused", err?: ApiError): void;
}

const RETRY_MS = 3000;

export interface Feed {
  close(): void;
}

export function openFeed(opts: { room?: string }, on: FeedHandlers): Feed {
  let source: EventSource | undefined;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  const url = () => {
    const q = new URLSearchParams();
    if (opts.room) q.set("room", opts.room);
    const token = getToken();
    if (token) q.set("token", token);
    const s = q.toString();
    return `/api/events${s ? `?${s}` : ""}`;
  };

  function parse<T>(ev: Event): T | undefined {
    try {
      return JSON.parse((ev as MessageEvent<string>).data) as T;
    } catch {
      return undefined;
    }
  }

  function connect(): void {
    clearTimeout(retryTimer);
    source?.close();
    if (closed) return;
    const es = new EventSource(url());
    source = es;
    es.addEventListener("open", () => on.status?.("live"));
    es.addEventListener("rooms", (ev) => {
      const rooms = parse<RoomStats[]>(ev);
      if (rooms) on.rooms?.(rooms);
    });
    es.addEventListener("room-opened", (ev) => {
      const room = parse<RoomStats>(ev);
      if (room) on.opened?.(room);
    });
    es.addEventListener("room-closed", (ev) => {
      const d = parse<{ room: string }>(ev);
      if (d) on.closed?.(d.room);
    });
    es.addEventListener("viewers", (ev) => {
      const d = parse<{ room: string; viewers: number }>(ev);
      if (d) on.viewers?.(d.room, d.viewers);
    });
    es.addEventListener("stats", (ev) => {
      const s = parse<RoomStats>(ev);
      if (s) on.stats?.(s);
    });
    es.addEventListener("error", () => {
      if (es !== source) return;
      if (es.readyState === EventSource.CONNECTING) {
        on.status?.("retrying");
        return;
      }
      // CLOSED: the server answered something other than an event stream. Ask the plain API what is wrong.
      es.close();
      void diagnose();
    });
  }

  async function diagnose(): Promise<void> {
    let refusal: ApiError | undefined;
    try {
      const res = await fetch("/api/rooms", { headers: getToken() ? { Authorization: `Bearer ${getToken()}` } : {} });
      if (res.status === 401 || res.status === 403) refusal = await errorFrom(res);
    } catch {
      // Unreachable: retry below like any network error.
    }
    if (closed) return;
    if (refusal) {
      // A new token (onTokenChange) starts the feed again; retrying the same token would only be refused again.
      on.status?.("refused", refusal);
      return;
    }
    on.status?.("retrying");
    retryTimer = setTimeout(connect, RETRY_MS);
  }

  const offToken = onTokenChange(() => connect());
  // Browsers allow only 6 connections to one server over HTTP/1.1, and each open feed holds one for good: a hidden
  // tab gives its connection back, so a person with many roomcast tabs is not left with pages that cannot load.
  const onVisibility = () => {
    if (closed) return;
    if (document.visibilityState === "hidden") {
      clearTimeout(retryTimer);
      source?.close();
      source = undefined;
      on.status?.("paused");
    } else if (!source) {
      connect();
    }
  };
  document.addEventListener("visibilitychange", onVisibility);
  // A page kept in the back/forward cache must not hold one of the browser's few connections to this server.
  const onHide = () => source?.close();
  const onShow = (e: PageTransitionEvent) => {
    if (e.persisted) connect();
  };
  addEventListener("pagehide", onHide);
  addEventListener("pageshow", onShow);
  if (document.visibilityState === "hidden") on.status?.("paused");
  else connect();

  return {
    close() {
      closed = true;
      clearTimeout(retryTimer);
      source?.close();
      offToken();
      removeEventListener("pagehide", onHide);
      document.removeEventListener("visibilitychange", onVisibility);
      removeEventListener("pageshow", onShow);
    },
  };
}
