// The Server's start and stop as main uses them: a port already taken is a StartError naming it (and leaves
// nothing open), and a close that overruns the deadline is reported as cut short, so main exits non-zero.
import "../../src/polyfills.ts";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { closeWithin, Server, StartError, type CloseReport } from "../../src/server.ts";

const log = pino({ level: "silent" });
const config = (env: Record<string, string> = {}) => loadConfig({ PORT: "0", HOST: "127.0.0.1", RATE_LIMIT_RPS: "0", ...env });

describe("Server.start and close", () => {
  it("a taken HTTP port is a StartError naming the address; the half-started server is closed", async () => {
    const first = await Server.start(config(), { log });
    try {
      const err = await Server.start(config({ PORT: String(first.port) }), { log }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StartError);
      expect((err as Error).message).toMatch(new RegExp(`^cannot listen on 127\\.0\\.0\\.1:${first.port}: `));
    } finally {
      expect(await first.close("test done")).toEqual({ clean: true, cutShort: [] });
    }
  });

  it("listens on every address it is given", async () => {
    const server = await Server.start(config(), { log, listen: [{ host: "127.0.0.1", port: 0 }, { host: "127.0.0.1", port: 0 }] });
    try {
      expect(server.listeners).toHaveLength(2);
      for (const l of server.listeners) expect((await fetch(`http://127.0.0.1:${l.port}/healthz`)).status).toBe(200);
    } finally {
      await server.close("test done");
    }
  });

  it("closeWithin: a close past the deadline is cut short by it; one within it keeps its own report", async () => {
    const never = { close: () => new Promise<CloseReport>(() => undefined) };
    expect(await closeWithin(never, "stop", 20)).toEqual({ clean: false, cutShort: ["deadline"] });
    const partial = { close: async (): Promise<CloseReport> => ({ clean: false, cutShort: ["recordings"] }) };
    expect(await closeWithin(partial, "stop", 1000)).toEqual({ clean: false, cutShort: ["recordings"] });
    const failing = { close: () => Promise.reject(new Error("boom")) };
    expect(await closeWithin(failing, "stop", 1000)).toEqual({ clean: false, cutShort: ["close failed"] });
  });
});
