// Which directory a node has, from its configuration (docs/cluster.md, "Topologies"): Redis when REDIS_URL is
// set (a machine's nodes may still have a supervisor restarting them), the supervisor's when a supervisor
// started this process, this process's memory otherwise.
import type { Config } from "../config.ts";
import type { Directory } from "./directory.ts";
import type { IpcPort } from "./ipc.ts";
import { LocalDirectory } from "./localDirectory.ts";
import type { NodeDirectoryOptions } from "./nodeDirectory.ts";
import { RedisDirectory } from "./redisDirectory.ts";
import { SupervisorDirectory } from "./supervisorDirectory.ts";

export function createDirectory(config: Config, opts: NodeDirectoryOptions & { parent: IpcPort | undefined }): Directory {
  if (config.cluster.redisUrl !== undefined) return new RedisDirectory({ ...opts, redisUrl: config.cluster.redisUrl });
  if (config.cluster.worker !== undefined) {
    if (!opts.parent) throw new Error("ROOMCAST_WORKER is set but this process has no channel to a supervisor");
    return new SupervisorDirectory({ ...opts, port: opts.parent });
  }
  return new LocalDirectory(opts);
}
