// The top of the ownership tree: one roomcast server (a node, in docs/cluster.md's words). Server.start builds and
// starts every part in order and keeps each as a field; close() takes them down in order, once, and says what it
// had to cut short. Nothing here is per process: two Servers on different ports share nothing but werift's socket
// factory, which picks each server's own media socket (rtc/weriftMux.ts).
import { join } from "node:path";
import { AuthHook } from "./auth/authHook.ts";
import { createDirectory } from "./cluster/createDirectory.ts";
import type { IpcPort } from "./cluster/ipc.ts";
import { Authorizer } from "./auth/authorizer.ts";
import type { Config } from "./config.ts";
import { createApp } from "./http/app.ts";
import { createLogger, type Logger } from "./log.ts";
import { Recordings } from "./media/recorder/recordings.ts";
import { TranscodeService, type TranscodeServiceDeps } from "./media/transcode/transcodeService.ts";
import { LoadMonitor } from "./metrics/load.ts";
import { Metrics } from "./metrics/metrics.ts";
import { ClusterNode } from "./node/clusterNode.ts";
import { directUrl } from "./node/directUrl.ts";
import { platform } from "./platform/index.ts";
import type { HttpListener, UdpSocket, WebAssets } from "./platform/ports.ts";
import { EventsHub, type ClusterRoomsView } from "./room/eventsHub.ts";
import { RoomRegistry } from "./room/registry.ts";
import { nativeCrypto } from "./rtc/nativeCrypto.ts";
import { SenderReportScheduler } from "./rtc/senderReports.ts";
import { UdpMux } from "./rtc/udpMux.ts";
import { VERSION } from "./version.ts";
import { emitRegistryWebhooks } from "./webhooks/fromRegistry.ts";
import { Webhooks } from "./webhooks/webhooks.ts";
import { Captures } from "./captures/captures.ts";
import { registryCaptureRooms } from "./captures/roomSnapshot.ts";
import { WhepEventsHub } from "./room/whepEvents.ts";

/**
 * The media socket's kernel buffers. Every viewer's packets leave through it, and a packet is charged to it until
 * the NIC (or, on loopback, the receiver) takes it: Linux's 212 KB default holds under 100 full-size packets for
 * the whole server. Receiving is kept moderate on purpose: a server that falls behind should drop, not queue
 * seconds of video and deliver all of it late.
 */
const MEDIA_SEND_BUFFER_BYTES = 4 * 1024 * 1024;
const MEDIA_RECEIVE_BUFFER_BYTES = 1024 * 1024;
/** Recordings are final long before this; only an mkv remux still running is cut short. */
const RECORDINGS_BUDGET_MS = 3000;
/** Webhooks are flushed after the recordings (their recording.finished events), for at most this long... */
const WEBHOOKS_BUDGET_MAX_MS = 2000;
/** ...and no later than this after close() began, so the whole close fits main's 4.5 s deadline. */
const WEBHOOKS_DONE_BY_MS = 3800;
/** ffmpeg processes get SIGTERM when their rooms close, and SIGKILL after this. */
const TRANSCODERS_BUDGET_MS = 1500;
/** Lets the peers' DTLS close alerts leave the media socket before it closes. */
const CLOSE_ALERTS_FLUSH_MS = 300;

export interface ListenAddress {
  host: string;
  port: number;
  /** Share the port with other processes (the cluster's workers on one machine). */
  reusePort?: boolean;
}

export interface ServerOptions {
  /** Where the server logs; a logger at LOG_LEVEL on stdout by default. */
  log?: Logger;
  /** The HTTP listeners; by default one on HOST:PORT. A cluster node adds its direct port. */
  listen?: readonly ListenAddress[];
  /** The web app; by default the runtime's (embedded in the binary; none under Node). */
  web?: WebAssets;
  /** Transcoding's ffmpeg resolution (tests). */
  resolveFfmpeg?: TranscodeServiceDeps["resolve"];
  /** The channel to the supervisor that started this process (a worker of several): its directory. */
  parent?: IpcPort;
}

/** What close() did: clean when nothing had to be cut short. */
export interface CloseReport {
  clean: boolean;
  /** The parts that did not finish within their budget, e.g. "recordings", "transcoders". */
  cutShort: string[];
}

/** The server could not start: the message says what and why (main prints it and exits 1). */
export class StartError extends Error {
  override name = "StartError";
}

export class Server {
  readonly config: Config;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly authorizer: Authorizer;
  /** AUTH_HOOK_URL's client, when one is configured. */
  readonly authHook: AuthHook | undefined;
  readonly webhooks: Webhooks;
  readonly mux: UdpMux;
  readonly senderReports: SenderReportScheduler;
  readonly recordings: Recordings | undefined;
  readonly transcode: TranscodeService;
  readonly load: LoadMonitor;
  readonly registry: RoomRegistry;
  readonly events: EventsHub;
  readonly whepEvents: WhepEventsHub;
  readonly captures: Captures;
  /** This server as a node of its cluster; on its own, a node of one. */
  readonly cluster: ClusterNode;
  readonly listeners: readonly HttpListener[];
  readonly tls: boolean;
  #closing: Promise<CloseReport> | undefined;
  readonly #onExit: () => void;

  private constructor(parts: {
    config: Config;
    log: Logger;
    metrics: Metrics;
    authorizer: Authorizer;
    authHook: AuthHook | undefined;
    webhooks: Webhooks;
    mux: UdpMux;
    senderReports: SenderReportScheduler;
    recordings: Recordings | undefined;
    transcode: TranscodeService;
    load: LoadMonitor;
    registry: RoomRegistry;
    events: EventsHub;
    whepEvents: WhepEventsHub;
    captures: Captures;
    cluster: ClusterNode;
    listeners: HttpListener[];
    tls: boolean;
  }) {
    this.config = parts.config;
    this.log = parts.log;
    this.metrics = parts.metrics;
    this.authorizer = parts.authorizer;
    this.authHook = parts.authHook;
    this.webhooks = parts.webhooks;
    this.mux = parts.mux;
    this.senderReports = parts.senderReports;
    this.recordings = parts.recordings;
    this.transcode = parts.transcode;
    this.load = parts.load;
    this.registry = parts.registry;
    this.events = parts.events;
    this.whepEvents = parts.whepEvents;
    this.captures = parts.captures;
    this.cluster = parts.cluster;
    this.listeners = parts.listeners;
    this.tls = parts.tls;
    // However the process ends from here on, no ffmpeg is left behind (each also has a watchdog on its stdin pipe).
    this.#onExit = () => this.transcode.killAll();
    process.on("exit", this.#onExit);
  }

  /** The first listener's port (PORT=0 picks a free one). */
  get port(): number {
    return (this.listeners[0] as HttpListener).port;
  }

  /** Builds and starts every part; on failure, closes what had started and throws StartError. */
  static async start(config: Config, opts: ServerOptions = {}): Promise<Server> {
    const log = opts.log ?? createLogger(config.logLevel);
    const undo: (() => unknown)[] = [];
    try {
      const mux = await openMediaSocket(config, log);
      undo.push(() => mux.close());
      const senderReports = new SenderReportScheduler((err) => log.warn({ err }, "an RTCP sender report failed; the stream's next one is tried as usual"));
      undo.push(() => senderReports.close());
      const metrics = new Metrics();
      const authorizer = new Authorizer(config);
      if (!authorizer.enabled) log.warn("no AUTH_TOKEN, ROOM_TOKENS, JWT_SECRET or ADMIN_TOKEN set: every room is open to anyone");
      const webhooks = new Webhooks({ config: config.webhooks, metrics, log, version: VERSION });
      undo.push(() => webhooks.close(0));
      const authHook = config.authHook && new AuthHook({ config: config.authHook, metrics, log, version: VERSION });
      if (config.authHook) log.info({ origin: new URL(config.authHook.url).origin, failOpen: config.authHook.failOpen }, "auth hook: rooms are decided by AUTH_HOOK_URL for tokens the static kinds do not accept");
      // Checks RECORD_DIR and logs if it is not writable; never stops the start.
      const recordings = config.recordEnabled ? new Recordings({ config, metrics, log, onFinished: (f) => webhooks.emit("recording.finished", f) }) : undefined;
      await recordings?.start();
      undo.push(() => recordings?.close(0));
      // Finds ffmpeg and probes NVENC in the background; rooms that start meanwhile wait for it.
      const transcode = new TranscodeService({
        config,
        metrics,
        log,
        resolve: opts.resolveFfmpeg,
        onFailed: (room, reason) => webhooks.emit("transcode.failed", { room, reason }),
      });
      void transcode.init();
      undo.push(() => transcode.killAll());
      // Once a second: what admission control reads, and what the media socket counted since the last second.
      const load: LoadMonitor = new LoadMonitor({ maxCpu: config.admissionMaxCpu }, (s) => {
        metrics.reportLoad(s.cpu, load.usPerPacket);
        metrics.reportMediaSocket(mux.counters);
      });
      undo.push(() => load.close());
      // Session ids start with the node's id: read when a session is made, after the directory has given it.
      let cluster: ClusterNode | undefined;
      const nodeId = () => (cluster as ClusterNode).id;
      const registry = new RoomRegistry({ config, metrics, log, recordings, transcode, load, media: { mux, senderReports }, nodeId });
      undo.push(() => registry.close("server failed to start"));
      cluster = new ClusterNode({
        registry,
        load,
        metrics,
        log,
        secret: config.cluster.secret,
        directory: (url, report) => createDirectory(config, { url, report, log, parent: opts.parent }),
      });
      const node = cluster;
      undo.push(() => node.close());
      emitRegistryWebhooks(registry, webhooks);
      const inCluster = config.cluster.redisUrl !== undefined || config.cluster.worker !== undefined;
      const events = new EventsHub(registry, { onClients: (n) => metrics.eventClients.set(n), cluster: inCluster ? clusterRoomsView(node) : undefined });
      const whepEvents = new WhepEventsHub(registry);
      undo.push(() => whepEvents.close());
      const captures = new Captures({ dir: join(config.dataDir, "captures"), rooms: registryCaptureRooms(registry), log, version: VERSION });
      undo.push(() => captures.close());
      // A folder that cannot be read is logged, not fatal: captures then fail to save and say so.
      await captures.init().catch((err: unknown) => log.warn({ err, dir: join(config.dataDir, "captures") }, "captures folder is not usable"));
      const web = opts.web ?? (await platform.loadWebAssets());
      const app = createApp({ config, registry, authorizer, metrics, log, version: VERSION, web, recordings, transcode, events, webhooks, authHook, captures, whepEvents, cluster });

      const tls = await loadTls(config, log);
      const listeners: HttpListener[] = [];
      undo.push(() => Promise.all(listeners.map((l) => l.stop(true))));
      const onError = (err: unknown) => log.error({ err }, "request failed outside the app");
      for (const addr of opts.listen ?? [{ host: config.host, port: config.port }]) {
        try {
          listeners.push(await platform.serve((req, client) => app.fetch(req, client), { port: addr.port, host: addr.host, tls, reusePort: addr.reusePort, onError }));
        } catch (err) {
          throw new StartError(`cannot listen on ${addr.host}:${addr.port}: ${(err as Error).message}`);
        }
      }
      // The last listener is the node's own (its direct port; the only one for a node on its own).
      const direct = (listeners[listeners.length - 1] as HttpListener).port;
      const url = directUrl({ publicUrl: config.cluster.publicUrl, host: config.host, tls: tls !== undefined, directPort: direct, worker: config.cluster.worker !== undefined });
      try {
        await cluster.start(url);
      } catch (err) {
        throw new StartError(`cannot join the cluster directory: ${(err as Error).message}`);
      }
      const scheme = tls ? "https" : "http";
      for (const l of listeners) log.info({ port: l.port, host: config.host, version: VERSION, tls: tls !== undefined, node: cluster.id }, `listening on ${scheme}://${config.host}:${l.port}`);
      return new Server({ config, log, metrics, authorizer, authHook, webhooks, mux, senderReports, recordings, transcode, load, registry, events, whepEvents, captures, cluster, listeners, tls: tls !== undefined });
    } catch (err) {
      for (const step of undo.reverse()) {
        try {
          await step();
        } catch {
          // Undoing a half start is best effort; the StartError says what went wrong.
        }
      }
      throw err;
    }
  }

  /**
   * Closes every part in order: no new sessions and every room closed (their recordings start finishing, their
   * ffmpegs get SIGTERM), the recordings within their budget and then the webhooks' queues, the HTTP listeners,
   * the media socket, the load monitor, the events hub, the sender reports, and the transcoders' processes
   * (SIGKILL past their budget).
   * Idempotent: a second call gets the first one's report.
   */
  close(reason: string): Promise<CloseReport> {
    this.#closing ??= this.#close(reason);
    return this.#closing;
  }

  async #close(reason: string): Promise<CloseReport> {
    const cutShort: string[] = [];
    const startedAt = Date.now();
    // Before the rooms: a capture cut by the shutdown says so, rather than "room closed".
    const captured = this.captures.close().catch((err: unknown) => this.log.warn({ err }, "captures not all saved"));
    this.registry.close(reason);
    // Its rooms closed, the node leaves the directory: its claims free for other nodes at once.
    const left = this.cluster.close().catch((err: Error) => this.log.warn({ err: err.message }, "leaving the cluster failed"));
    const recorded = this.recordings ? this.recordings.close(RECORDINGS_BUDGET_MS).catch(() => false) : Promise.resolve(true);
    const delivered = recorded.then(async (done) => {
      if (!done) cutShort.push("recordings");
      const budget = Math.max(0, Math.min(WEBHOOKS_BUDGET_MAX_MS, startedAt + WEBHOOKS_DONE_BY_MS - Date.now()));
      // Events a receiver could not take in time are its loss, counted as dropped: not the server's to report.
      await this.webhooks.close(budget).catch(() => undefined);
    });
    const stopped = Promise.all(this.listeners.map((l) => l.stop(true).catch(() => undefined)));
    await Promise.all([delivered, stopped, captured, left]);
    await new Promise((r) => setTimeout(r, CLOSE_ALERTS_FLUSH_MS));
    this.mux.close();
    this.load.close();
    this.events.close();
    this.whepEvents.close();
    this.senderReports.close();
    if (!(await this.transcode.close(TRANSCODERS_BUDGET_MS))) cutShort.push("transcoders");
    process.off("exit", this.#onExit);
    return { clean: cutShort.length === 0, cutShort };
  }
}

/** The cluster's rooms as the events hub reads them. */
function clusterRoomsView(node: ClusterNode): ClusterRoomsView {
  return {
    async rooms() {
      const self = node.id;
      return (await node.rooms()).map((r) => ({
        name: r.name,
        hasPublisher: r.hasPublisher,
        bitrate: r.bitrate ?? 0,
        liveSince: r.liveSince,
        otherViewers: r.nodes.reduce((sum, n) => (n.node === self ? sum : sum + n.viewers), 0),
      }));
    },
    onChange: (listener) => node.onViewChange(listener),
  };
}

/**
 * `server.close()`, or a report that the deadline cut it short. The exit code follows the report: 0 only when
 * nothing was cut short.
 */
export async function closeWithin(server: Pick<Server, "close">, reason: string, deadlineMs: number): Promise<CloseReport> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<CloseReport>((resolve) => {
    timer = setTimeout(() => resolve({ clean: false, cutShort: ["deadline"] }), deadlineMs);
  });
  try {
    return await Promise.race([server.close(reason).catch((): CloseReport => ({ clean: false, cutShort: ["close failed"] })), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** All media on one UDP port: the first free one of RTC_PORT_MIN..MAX, else one the system picks. */
async function openMediaSocket(config: Config, log: Logger): Promise<UdpMux> {
  let mux: UdpMux | undefined;
  const range = config.rtcPortRange;
  const ports = range ? Array.from({ length: range[1] - range[0] + 1 }, (_, i) => range[0] + i) : [0];
  let socket: UdpSocket | undefined;
  let lastSocketErrorLog = 0;
  let lastError: unknown;
  for (const port of ports) {
    try {
      socket = await platform.openUdpSocket(
        "0.0.0.0",
        port,
        {
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
        },
        { sendBytes: MEDIA_SEND_BUFFER_BYTES, receiveBytes: MEDIA_RECEIVE_BUFFER_BYTES },
      );
      break;
    } catch (err) {
      lastError = err;
    }
  }
  if (!socket) throw new StartError(`cannot bind a UDP port for media${range ? ` in ${range.join("-")}` : ""}: ${String(lastError)}`);
  mux = new UdpMux(socket);
  const buffers = socket.buffers;
  const srtpByLibcrypto = nativeCrypto() !== undefined;
  log.info({ udpPort: mux.port, sendBuffer: buffers?.sendBytes, receiveBuffer: buffers?.receiveBytes, srtpByLibcrypto }, `media on UDP port ${mux.port}`);
  if (!srtpByLibcrypto && platform.name === "bun") {
    log.warn("no libcrypto (OpenSSL) found: forwarded packets are encrypted with node:crypto, at about twice the CPU (install libssl3)");
  }
  if (buffers && buffers.sendBytes < MEDIA_SEND_BUFFER_BYTES) {
    log.warn(buffers, "the kernel granted the media socket a smaller send buffer than asked: for many viewers, raise net.core.wmem_max to 4194304 (sysctl)");
  }
  return mux;
}

async function loadTls(config: Config, log: Logger): Promise<{ cert: string; key: string } | undefined> {
  if (config.tls === undefined) return undefined;
  try {
    // Loaded only when HTTPS is on: the x509 stack is the heaviest import and plain HTTP never needs it.
    return await (await import("./tls/certificate.ts")).loadTls(config, log);
  } catch (err) {
    if (err instanceof Error && err.name === "TlsError") throw new StartError(err.message);
    throw err;
  }
}
