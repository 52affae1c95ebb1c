import type { Authorizer } from "../auth/authorizer.ts";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Recordings } from "../media/recorder/recordings.ts";
import type { TranscodeService } from "../media/transcode/transcodeService.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { EventsHub } from "../room/eventsHub.ts";
import type { RoomRegistry } from "../room/registry.ts";
import type { WebAssets } from "../platform/ports.ts";
import type { AuthHook } from "../auth/authHook.ts";
import type { Webhooks } from "../webhooks/webhooks.ts";
import type { Captures } from "../captures/captures.ts";
import type { WhepEventsHub } from "../room/whepEvents.ts";
import type { ClusterNode } from "../node/clusterNode.ts";

/** What the HTTP layer is built from; tests build it with real parts and no listening server. */
export interface AppDeps {
  config: Config;
  registry: RoomRegistry;
  /** The live room data GET /api/events streams. */
  events: EventsHub;
  authorizer: Authorizer;
  metrics: Metrics;
  log: Logger;
  version: string;
  /** The web app's files; without them (unit tests) the pages are not served. */
  web?: WebAssets;
  /** Present when RECORD_ENABLED; the records API answers 404 without it. */
  recordings?: Recordings;
  /** Transcoding's choice of encoder and ffmpeg, for /api/bootstrap; absent in unit tests. */
  transcode?: TranscodeService;
  /** The webhook receivers; the admin webhook API is not served without them. */
  webhooks?: Webhooks;
  /** AUTH_HOOK_URL's client, when one is configured. */
  authHook?: AuthHook;
  /** Stats captures (DATA_DIR/captures); the admin captures API is not served without them. */
  captures?: Captures;
  /** The WHEP event streams; without them a play's 201 links no events and their URLs are not served. */
  whepEvents?: WhepEventsHub;
  /** This server as a node of its cluster (alone: a LocalDirectory); app tests built without it answer as one server. */
  cluster?: ClusterNode;
}

/** Per-request bindings the platform passes to app.fetch. */
interface Bindings {
  /** The client's IP as the socket sees it. */
  ip?: string;
}

export type AppEnv = { Bindings: Bindings };
