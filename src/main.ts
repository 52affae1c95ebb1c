// roomcast's entry point: arguments, configuration (read once), then the server, until a signal stops it. With
// WORKERS of 2 or more this first process is the supervisor of that many node processes (cluster/supervisor.ts),
// each of them this same program again with ROOMCAST_WORKER set: a server pinned to its core, on the shared PORT
// and on its own direct port, with the supervisor as its directory, and gone when its supervisor is.
import "./polyfills.ts";
import { runSupervisor } from "./cluster/supervisor.ts";
import { ConfigError, helpText, loadConfig, type Config } from "./config.ts";
import { createLogger } from "./log.ts";
import { platform } from "./platform/index.ts";
import { parentPort, pinToCore } from "./platform/process.ts";
import { closeWithin, Server, StartError, type ListenAddress, type ServerOptions } from "./server.ts";
import { VERSION } from "./version.ts";

/** A stop takes at most this long (most orchestrators kill at 5 s or later); what is still running is cut short. */
const SHUTDOWN_DEADLINE_MS = 4500;

function parseArgs(argv: string[]): void {
  for (const arg of argv) {
    if (arg === "--help" || arg === "-h") {
      console.log(helpText(VERSION));
      process.exit(0);
    }
    if (arg === "--version" || arg === "-v") {
      console.log(VERSION);
      process.exit(0);
    }
    console.error(`roomcast: unknown argument "${arg}" (try --help)`);
    process.exit(2);
  }
}

function configFromEnv(): Config {
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`roomcast: invalid configuration: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
}

async function main(argv: string[]): Promise<void> {
  parseArgs(argv);
  const config = configFromEnv();
  // Before the server's own code runs much: from here on, only code that runs often gets optimizing compiles.
  const jitScaled = platform.scaleJitTierUp(config.jitTierUpScale);
  const log = createLogger(config.logLevel);
  if (!jitScaled && config.jitTierUpScale !== 1) log.warn({ jitTierUpScale: config.jitTierUpScale }, "this Bun cannot scale the JIT's tier-up thresholds; JIT_TIER_UP_SCALE has no effect");
  // A media server must outlive any one bad packet or peer: log and keep serving the other rooms.
  process.on("uncaughtException", (err) => log.error({ err }, "uncaught exception"));
  process.on("unhandledRejection", (err) => log.error({ err }, "unhandled rejection"));

  const { workers, worker } = config.cluster;
  if (workers > 1 && worker === undefined) {
    // The nodes share PORT: one picked at random would be another for each of them.
    if (config.port === 0) {
      console.error("roomcast: invalid configuration: WORKERS needs a fixed PORT, which all nodes share");
      process.exit(1);
    }
    runSupervisor(config, process.env, log);
    return;
  }
  const opts: ServerOptions = { log };
  if (worker) {
    const pin = pinToCore(worker.index);
    if (pin.pinned) log.info({ worker: worker.index, cpu: pin.cpu }, `worker ${worker.index} pinned to CPU ${pin.cpu}`);
    else log.warn({ worker: worker.index, reason: pin.reason }, "worker not pinned to a core");
    opts.parent = parentPort();
    if (!opts.parent) {
      console.error("roomcast: ROOMCAST_WORKER is set by the supervisor only; this process has no channel to one");
      process.exit(1);
    }
    // The shared port first (the kernel spreads its connections over the nodes), then the node's own.
    const listen: ListenAddress[] = [
      { host: config.host, port: config.port, reusePort: true },
      { host: config.host, port: worker.directPort },
    ];
    opts.listen = listen;
  }

  let server: Server;
  try {
    server = await Server.start(config, opts);
  } catch (err) {
    if (!(err instanceof StartError)) throw err;
    console.error(`roomcast: ${err.message}`);
    process.exit(1);
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    const report = await closeWithin(server, `server shutting down (${signal})`, SHUTDOWN_DEADLINE_MS);
    if (report.clean) log.info("shut down cleanly");
    else log.warn({ cutShort: report.cutShort }, `shutdown cut short: ${report.cutShort.join(", ")}`);
    log.flush?.();
    process.exit(report.clean ? 0 : 1);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  // No supervisor, no one to restart this node nor to be its directory: it stops.
  opts.parent?.onClose(() => void shutdown("supervisor gone"));
}

void main(process.argv.slice(2));
