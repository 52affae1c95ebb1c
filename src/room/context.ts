import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics/metrics.ts";

/** What every room and session needs from the server that owns it. */
export interface RoomContext {
  config: Config;
  metrics: Metrics;
  log: Logger;
}
