// The directory each topology gets.
import { describe, expect, it } from "vitest";
import { createDirectory } from "../../../src/cluster/createDirectory.ts";
import { portPair } from "../../../src/cluster/ipc.ts";
import { loadConfig } from "../../../src/config.ts";
import { silentLog, testReport } from "./helpers/report.ts";

const opts = { url: "http://n", report: testReport(), log: silentLog };

describe("createDirectory", () => {
  it("is local for a server on its own, the supervisor's for a supervised node, Redis's with REDIS_URL", async () => {
    expect(createDirectory(loadConfig({}), { ...opts, parent: undefined }).kind).toBe("local");
    const supervised = loadConfig({ WORKERS: "2", ROOMCAST_WORKER: "1" });
    expect(createDirectory(supervised, { ...opts, parent: portPair()[1] }).kind).toBe("supervisor");
    const redis = createDirectory(loadConfig({ WORKERS: "2", ROOMCAST_WORKER: "1", REDIS_URL: "redis://127.0.0.1:1", CLUSTER_SECRET: "0123456789abcdef" }), { ...opts, parent: portPair()[1] });
    expect(redis.kind).toBe("redis");
    await redis.close();
  });

  it("refuses a supervised node without a channel to its supervisor", () => {
    expect(() => createDirectory(loadConfig({ WORKERS: "2", ROOMCAST_WORKER: "0" }), { ...opts, parent: undefined })).toThrow(/no channel/);
  });
});
