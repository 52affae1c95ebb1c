// roomcast's entry point: arguments, configuration (read once), then the server.
import "./polyfills.ts";
import { AuthHook } from "./auth/authHook.ts";
import { Authorizer } from "./auth/authorizer.ts";
import { ConfigError, helpText, loadConfig } from "./config.ts";
import { createApp } from "./http/app.ts";
import { createLogger } from "./log.ts";
import { Recordings } from "./media/recorder/recordings.ts";
import { TranscodeService } from "./media/transcode/transcodeService.ts";
import { LoadMonitor } from "./metrics/load.ts";
import { Metrics } from "./metrics/metrics.ts";
import { openUdpSocket, scaleJitTierUp, serve, type SocketBuffers } from "./platform/bun.ts";
import { loadWebAssets } from "./platform/webAssets.ts";
import { RoomRegistry } from "./room/registry.ts";
import { UdpMux, type DatagramSocket } from "./rtc/udpMux.ts";
import { nativeCrypto } from "./rtc/nativeCrypto.ts";
import { senderReports } from "./rtc/senderReports.ts";
import { installUdpMux } from "./rtc/weriftMux.ts";
import { VERSION } from "./version.ts";
import { emitRegistryWebhooks } from "./webhooks/fromRegistry.ts";
import { Webhooks } from "./webhooks/webhooks.ts";

const SHUTDOWN_DEADLINE_MS = 4500;
/**
 * The media socket's kernel buffers. Every viewer's packets leave through it, and a packet is charged to it until
 * the NIC (or, on loopback, the receiver) takes it: Linux's 212 KB default holds under 100 full-size packets for
 * the whole server. Receiving is kept moderate on purpose: a server that falls behind should drop, not queue
 * seconds of video and deliver all of it late.
 */
const MEDIA_SEND_BUFFER_BYTES = 4 * 1024 * 1024;
const MEDIA_RECEIVE_BUFFER_BYTES = 1024 * 1024;
/** Within the deadline: recordings are final long before this; only an mkv remux still running is cut short. */
const RECORDINGS_BUDGET_MS = 3000;
/** Webhooks are flushed after the recordings (their recording.finished events), in what is left of the deadline. */
const WEBHOOKS_BUDGET_MAX_MS = 2000;

async function main(argv: string[]): Promise<void> {
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

  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`roomcast: invalid configuration: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }

  // Before the server's own code runs much: from here on, only code that runs often gets optimizing compiles.
  const jitScaled = scaleJitTierUp(config.jitTierUpScale);
  const log = createLogger(config.logLevel);
  if (!jitScaled && config.jitTierUpScale !== 1) log.warn({ jitTierUpScale: config.jitTierUpScale }, "this Bun cannot scale the JIT's tier-up thresholds; JIT_TIER_UP_SCALE has no effect");
  // A media server must outlive any one bad packet or peer: log and keep serving the other rooms.
  process.on("uncaughtException", (err) => log.error({ err }, "uncaught exception"));
  process.on("unhandledRejection", (err) => log.error({ err }, "unhandled rejection"));
  senderReports.onError = (err) => log.warn({ err }, "an RTCP sender report failed; the stream's next one is tried as usual");

  // All media on one UDP port (the first free one of RTC_PORT_MIN..MAX, else one the system picks).
  let mux: UdpMux | undefined;
  const ports = config.rtcPortRange ? Array.from({ length: config.rtcPortRange[1] - config.rtcPortRange[0] + 1 }, (_, i) => (config.rtcPortRange as [number, number])[0] + i) : [0];
  let socket: (DatagramSocket & { buffers: SocketBuffers | undefined }) | undefined;
  let lastSocketErrorLog = 0;
  let lastError: unknown;
  for (const port of ports) {
    try {
      socket = await openUdpSocket("0.0.0.0", port, {
        onData: (data, p, address) => mux?.receive(data, p, address),
        onError: (err) => {
          // Mostly ICMP "port unreachable" from clients that left, up to one per packet sent them: counted, and
          // logged once per 10 s.
          if (mux) mux.counters.socketErrors++;
          const now = Date.now();
          if (now - lastSocketErrorLog < 10_000) return;
          lastSocketErrorLog = now;
          log.info({ err: err.message, socketErrors: mux?.counters.socketErrors }, "media socket error (a client that left, usually)");
        },
      }, { sendBytes: MEDIA_SEND_BUFFER_BYTES, receiveBytes: MEDIA_RECEIVE_BUFFER_BYTES });
      break;
    } catch (err) {
      lastError = err;
    }
  }
  if (!socket) {
    console.error(`roomcast: cannot bind a UDP port for media${config.rtcPortRange ? ` in ${config.rtcPortRange.join("-")}` : ""}: ${String(lastError)}`);
    process.exit(1);
  }
  mux = new UdpMux(socket);
  installUdpMux(mux);
  const buffers = socket.buffers;
  const srtpByLibcrypto = nativeCrypto() !== undefined;
  log.info({ udpPort: mux.port, sendBuffer: buffers?.sendBytes, receiveBuffer: buffers?.receiveBytes, srtpByLibcrypto }, `media on UDP port ${mux.port}`);
  if (!srtpByLibcrypto) {
    log.warn("no libcrypto (OpenSSL) found: forwarded packets are encrypted with node:crypto, at about twice the CPU (install libssl3)");
  }
  if (buffers && buffers.sendBytes < MEDIA_SEND_BUFFER_BYTES) {
    log.warn(
      buffers,
      "the kernel granted the media socket a smaller send buffer than asked: for many viewers, raise net.core.wmem_max to 4194304 (sysctl)",
    );
  }

  const metrics = new Metrics();
  const authorizer = new Authorizer(config);
  if (!authorizer.enabled) {
    log.warn("no AUTH_TOKEN, ROOM_TOKENS, JWT_SECRET or ADMIN_TOKEN set: every room is open to anyone");
  }
  // Checks RECORD_DIR and logs if it is not writable; never stops the start.
  const webhooks = new Webhooks({ config: config.webhooks, metrics, log, version: VERSION });
  const authHook = config.authHook && new AuthHook({ config: config.authHook, metrics, log, version: VERSION });
  if (config.authHook) log.info({ origin: new URL(config.authHook.url).origin, failOpen: config.authHook.failOpen }, "auth hook: rooms are decided by AUTH_HOOK_URL for tokens the static kinds do not accept");
  const recordings = config.recordEnabled ? new Recordings({ config, metrics, log, onFinished: (f) => webhooks.emit("recording.finished", f) }) : undefined;
  await recordings?.start();
  // Finds ffmpeg and probes NVENC in the background; rooms that start meanwhile wait for it.
  const transcode = new TranscodeService({ config, metrics, log, onFailed: (room, reason) => webhooks.emit("transcode.failed", { room, reason }) });
  void transcode.init();
  // However the process ends from here on, no ffmpeg is left behind (each also has a watchdog on its stdin pipe).
  process.on("exit", () => transcode.killAll());
  // Once a second: the load admission control reads, and what the media socket counted since the last second.
  const muxReported = { ...mux.counters };
  const mediaSocket = mux;
  const load = new LoadMonitor({ maxCpu: config.admissionMaxCpu }, (s) => {
    metrics.processCpu.set(s.cpu);
    metrics.usPerPacket.set(Math.round(load.usPerPacket * 100) / 100);
    const c = mediaSocket.counters;
    metrics.packetsDropped.labels("send_failed").inc(c.sendDropped - muxReported.sendDropped);
    metrics.udpPackets.labels("unknown_source").inc(c.unknownSource - muxReported.unknownSource);
    metrics.udpPackets.labels("send_error").inc(c.sendErrors - muxReported.sendErrors);
    metrics.udpPackets.labels("socket_error").inc(c.socketErrors - muxReported.socketErrors);
    Object.assign(muxReported, c);
  });
  const registry = new RoomRegistry({ config, metrics, log, recordings, transcode, load });
  emitRegistryWebhooks(registry, webhooks);
  const web = await loadWebAssets();
  const app = createApp({ config, registry, authorizer, metrics, log, version: VERSION, web, recordings, transcode, webhooks, authHook });

  let tls;
  try {
    // Loaded only when HTTPS is on: the x509 stack is the heaviest import and plain HTTP never needs it.
    tls = config.tls === undefined ? undefined : await (await import("./tls/certificate.ts")).loadTls(config, log);
  } catch (err) {
    if (err instanceof Error && err.name === "TlsError") {
      console.error(`roomcast: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }

  let server;
  try {
    server = serve(app, { port: config.port, host: config.host, tls });
  } catch (err) {
    console.error(`roomcast: cannot listen on ${config.host}:${config.port}: ${(err as Error).message}`);
    process.exit(1);
  }
  const scheme = tls ? "https" : "http";
  log.info({ port: server.port, host: config.host, version: VERSION, tls: tls !== undefined }, `listening on ${scheme}://${config.host}:${server.port}`);

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    const deadlineAt = Date.now() + SHUTDOWN_DEADLINE_MS;
    const deadline = setTimeout(() => process.exit(0), SHUTDOWN_DEADLINE_MS);
    deadline.unref?.();
    registry.close(`server shutting down (${signal})`);
    // Closing the rooms started finishing their recordings; wait for the files to be final.
    const recorded = recordings?.close(RECORDINGS_BUDGET_MS) ?? Promise.resolve();
    const delivered = recorded
      .catch(() => undefined)
      .then(() => webhooks.close(Math.min(WEBHOOKS_BUDGET_MAX_MS, deadlineAt - Date.now() - 700)));
    void Promise.all([server.stop(true).catch(() => undefined), delivered])
      .finally(() => {
        // Let the peers' DTLS close alerts leave the sockets before the process ends.
        setTimeout(() => {
          log.flush?.();
          process.exit(0);
        }, 300);
      });
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

void main(process.argv.slice(2));
