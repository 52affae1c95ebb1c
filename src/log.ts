import pino from "pino";
import type { LogLevel } from "./config.ts";

export type Logger = pino.Logger;

/** JSON lines on stdout; children carry room and session ids so every line can be traced to its session. */
export function createLogger(level: LogLevel): Logger {
  return pino({ level, base: { app: "roomcast" }, timestamp: pino.stdTimeFunctions.isoTime });
}
