import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Recordings } from "../media/recorder/recordings.ts";
import type { TranscodeService } from "../media/transcode/transcodeService.ts";
import type { LoadMonitor } from "../metrics/load.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { SenderReportScheduler } from "../rtc/senderReports.ts";
import type { UdpMux } from "../rtc/udpMux.ts";

/** The server's media socket and what runs on it; without it (unit tests) peers use werift's own sockets. */
interface RoomMedia {
  mux: UdpMux;
  senderReports: SenderReportScheduler;
}

/** What every room and session needs from the server that owns it. */
export interface RoomContext {
  config: Config;
  metrics: Metrics;
  log: Logger;
  /** Present when RECORD_ENABLED: every publisher session is recorded. */
  recordings?: Recordings;
  /** Turns publishes into ladders of renditions when the room has a ladder; absent in unit tests. */
  transcode?: TranscodeService;
  /** Admission control for new viewers; absent in unit tests. */
  load?: LoadMonitor;
  media?: RoomMedia;
  /** This server's node id in its cluster directory, which every session id starts with (read when one is made). */
  nodeId?: () => string;
}
