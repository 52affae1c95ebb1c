// GET /api/records, GET /records/{name} (Range), DELETE /api/records/{name} (admin). Names are only ever looked up
// in the recordings index (regular recording files directly in RECORD_DIR), so `..`, encoded slashes or absolute
// paths find nothing and get 404.
//
// The listing is the reference's JSON array, served in pages: `?limit=` (default 100, at most 1000; more is
// served as 1000) and `?cursor=` from the previous page. When more entries follow, the answer says where the next
// page starts twice: `X-Next-Cursor: <cursor>` and `Link: </api/records?...&cursor=<cursor>>; rel="next"` (RFC
// 8288), the other query parameters kept. A listing costs no disk access: it is read from the index.
import type { Context, Hono } from "hono";
import type { RecordListItem } from "../../api.ts";
import { ROOM_NAME } from "../../config.ts";
import { HttpError, invalidRoomName, notFound } from "../errors.ts";
import { parseRecordName } from "../../media/recorder/names.ts";
import type { Recordings } from "../../media/recorder/recordings.ts";
import type { RecordCursor } from "../../media/recorder/store.ts";
import { platform } from "../../platform/index.ts";
import type { AuthGuard } from "../middleware/auth.ts";
import { recordOps } from "../openapi/operations.ts";
import type { AppDeps, AppEnv } from "../types.ts";
import { FORWARDED_HEADER } from "../../node/forward.ts";

export type ByteRange = { start: number; end: number } | "unsatisfiable" | undefined;

/**
 * One `bytes=` range (RFC 9110 14.1.2) against a file of `size` bytes. Undefined means serve the whole file: no
 * header, a header we do not parse, or several ranges (allowed to be ignored).
 */
export function parseRange(header: string | undefined, size: number): ByteRange {
  if (header === undefined) return undefined;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return undefined;
  const [, a = "", b = ""] = m;
  if (a === "" && b === "") return undefined;
  if (a === "") {
    const suffix = Number(b);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(a);
  const end = b === "" ? size - 1 : Math.min(Number(b), size - 1);
  if (start >= size || (b !== "" && Number(b) < start)) return "unsatisfiable";
  return { start, end };
}

export const RECORDS_PAGE_DEFAULT = 100;
export const RECORDS_PAGE_MAX = 1000;

function pageLimit(raw: string | undefined): number {
  if (raw === undefined) return RECORDS_PAGE_DEFAULT;
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < 1) throw new HttpError(400, `limit must be a whole number from 1 to ${RECORDS_PAGE_MAX}`);
  return Math.min(Number(raw), RECORDS_PAGE_MAX);
}

/** Opaque to clients: the last entry's modification time and name. */
export function encodeCursor(c: RecordCursor): string {
  return Buffer.from(`${c.mtimeMs}/${c.name}`, "utf8").toString("base64url");
}

export function decodeCursor(raw: string | undefined): RecordCursor | undefined {
  if (raw === undefined) return undefined;
  const bad = () => new HttpError(400, "invalid cursor: pass the X-Next-Cursor of the previous page");
  if (raw.length > 512 || !/^[A-Za-z0-9_-]+$/.test(raw)) throw bad();
  const text = Buffer.from(raw, "base64url").toString("utf8");
  const slash = text.indexOf("/");
  const mtimeMs = Number(text.slice(0, slash));
  const name = text.slice(slash + 1);
  if (slash <= 0 || !Number.isFinite(mtimeMs) || parseRecordName(name) === undefined) throw bad();
  return { mtimeMs, name };
}

function enabled(deps: AppDeps): Recordings {
  if (!deps.recordings) throw notFound("recording is disabled (RECORD_ENABLED=false)");
  return deps.recordings;
}

export function recordRoutes(app: Hono<AppEnv>, deps: AppDeps, guard: AuthGuard): void {
  app.get("/api/records", ...recordOps.list, async (c) => {
    const recordings = enabled(deps);
    const room = c.req.query("room");
    if (room !== undefined && !ROOM_NAME.test(room)) throw invalidRoomName();
    const visible = await guard.roomFilter(c, { queryToken: true, action: "records", room });
    const limit = pageLimit(c.req.query("limit"));
    const after = decodeCursor(c.req.query("cursor"));
    const { records, next } = await recordings.store.page({ visible, room, limit, after });
    if (next) {
      const cursor = encodeCursor(next);
      const url = new URL(c.req.url);
      url.searchParams.set("limit", String(limit));
      url.searchParams.set("cursor", cursor);
      c.header("X-Next-Cursor", cursor);
      c.header("Link", `<${url.pathname}${url.search}>; rel="next"`);
    }
    return c.json(
      records.map(({ name, size, modTime, url, room: recordRoom, kind, inProgress }): RecordListItem => ({ name, size, modTime, url, room: recordRoom, kind, inProgress })),
    );
  });

  app.get("/records/:name", ...recordOps.file, async (c) => serveRecord(c, deps, guard));

  app.delete("/api/records/:name", ...recordOps.remove, async (c) => {
    const recordings = enabled(deps);
    await guard.admin(c);
    const name = c.req.param("name");
    let result = await recordings.store.remove(name);
    // Nodes on other machines keep their own files: one of them may have it (asked once, never forwarded on).
    const cluster = deps.cluster;
    if (result === "not_found" && cluster && !cluster.standalone && c.req.header(FORWARDED_HEADER) === undefined) {
      result = await cluster.deleteRecordingElsewhere(name);
      if (result === "deleted") {
        deps.log.info({ file: name }, "recording deleted on another node through the API");
        return c.json({ deleted: name }, 200);
      }
    }
    if (result === "not_found") throw notFound("recording not found");
    if (result === "in_progress") throw new HttpError(409, "recording in progress: it can be deleted once its session has ended");
    deps.metrics.recordFilesDeleted.labels("api").inc();
    deps.log.info({ file: name }, "recording deleted through the API");
    return c.json({ deleted: name }, 200);
  });
}

async function serveRecord(c: Context<AppEnv>, deps: AppDeps, guard: AuthGuard): Promise<Response> {
  const recordings = enabled(deps);
  const name = c.req.param("name") ?? "";
  const parsed = parseRecordName(name);
  if (!parsed) throw notFound("recording not found");
  // A link or <video src> cannot send headers, hence ?token= as for the events feed. A token that does not open the
  // room gets the same 404 as a missing file: the listing would not show it either.
  const visible = await guard.roomFilter(c, { queryToken: true, action: "records", room: parsed.room });
  if (!visible(parsed.room)) throw notFound("recording not found");
  const rec = await recordings.store.find(name);
  if (!rec) throw notFound("recording not found");

  const size = rec.size;
  const headers: Record<string, string> = {
    "Content-Type": rec.contentType,
    "Accept-Ranges": "bytes",
    "Last-Modified": new Date(rec.mtimeMs).toUTCString(),
    "Content-Disposition": `inline; filename="${rec.name}"`,
    // A file still being written changes under the same URL.
    "Cache-Control": rec.inProgress ? "no-store" : "private, max-age=0, must-revalidate",
  };
  const range = parseRange(c.req.header("range"), size);
  if (range === "unsatisfiable") {
    return c.body(null, 416, { ...headers, "Content-Range": `bytes */${size}` });
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? size - 1;
  const length = size === 0 ? 0 : end - start + 1;
  headers["Content-Length"] = String(length);
  if (range) headers["Content-Range"] = `bytes ${start}-${end}/${size}`;
  const status = range ? 206 : 200;
  if (c.req.method === "HEAD" || length === 0) return c.body(null, status, headers);
  // Only the bytes the stat saw: a growing file still matches its Content-Length.
  return new Response(await platform.fileRangeBody(rec.path, start, end), { status, headers });
}
