import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The reference's four metrics under their exact names, plus what an operator needs to run the server. */
/** What the media socket (rtc/udpMux.ts) counts. */
export interface MediaSocketCounters {
  unknownSource: number;
  sendDropped: number;
  sendErrors: number;
  socketErrors: number;
}

export class Metrics {
  readonly registry = new Registry();
  readonly liveRooms = new Gauge({ name: "live_rooms", help: "Active room count", registers: [this.registry] });
  /** The contract's name (live_subscribers): viewers per room. */
  readonly liveViewers = new Gauge({
    name: "live_subscribers",
    help: "Subscribers per room",
    labelNames: ["room"] as const,
    registers: [this.registry],
  });
  readonly rtpBytes = new Counter({
    name: "live_rtp_bytes_total",
    help: "Total RTP bytes received from publishers",
    labelNames: ["room"] as const,
    registers: [this.registry],
  });
  readonly rtpPackets = new Counter({
    name: "live_rtp_packets_total",
    help: "Total RTP packets received from publishers",
    labelNames: ["room"] as const,
    registers: [this.registry],
  });
  readonly sessions = new Gauge({
    name: "roomcast_sessions",
    help: "Open sessions by kind",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  readonly sessionsTotal = new Counter({
    name: "roomcast_sessions_total",
    help: "Sessions created by kind",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  readonly pli = new Counter({
    name: "roomcast_pli_total",
    help: "Keyframe requests by where they went: sent to publishers, or throttled",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly nack = new Counter({
    name: "roomcast_nack_total",
    help: "NACK feedback packets received from viewers",
    registers: [this.registry],
  });
  readonly packetsLost = new Counter({
    name: "roomcast_rtp_packets_lost_total",
    help: "RTP packets missing from publishers (sequence gaps)",
    registers: [this.registry],
  });
  readonly packetsForwarded = new Counter({
    name: "roomcast_rtp_packets_forwarded_total",
    help: "RTP packets handed to viewers",
    registers: [this.registry],
  });
  readonly packetsDropped = new Counter({
    name: "roomcast_rtp_packets_dropped_total",
    help: "RTP packets not forwarded, by reason",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly authFailures = new Counter({
    name: "roomcast_auth_failures_total",
    help: "Requests refused by auth, by status",
    labelNames: ["status"] as const,
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: "roomcast_rate_limited_total",
    help: "Requests refused by the rate limiter",
    registers: [this.registry],
  });
  readonly httpRequests = new Counter({
    name: "roomcast_http_requests_total",
    help: "HTTP requests by route and status",
    labelNames: ["route", "status"] as const,
    registers: [this.registry],
  });

  readonly roomBitrate = new Gauge({
    name: "roomcast_room_ingest_bitrate_bps",
    help: "Bits per second the room's publisher sends, over the last second",
    labelNames: ["room"] as const,
    registers: [this.registry],
  });
  readonly roomViewerRtt = new Gauge({
    name: "roomcast_room_viewer_rtt_seconds",
    help: "Mean round-trip time to the room's viewers, from their RTCP receiver reports",
    labelNames: ["room"] as const,
    registers: [this.registry],
  });
  readonly roomViewerLoss = new Gauge({
    name: "roomcast_room_viewer_loss_ratio",
    help: "Mean fraction of packets the room's viewers report lost",
    labelNames: ["room"] as const,
    registers: [this.registry],
  });
  readonly roomViewerJitter = new Gauge({
    name: "roomcast_room_viewer_jitter_seconds",
    help: "Mean interarrival jitter the room's viewers report",
    labelNames: ["room"] as const,
    registers: [this.registry],
  });

  readonly recordingsActive = new Gauge({
    name: "roomcast_recordings_active",
    help: "Recording files being written (one per recorded track)",
    registers: [this.registry],
  });
  readonly recordBytes = new Counter({
    name: "roomcast_record_bytes_total",
    help: "Bytes written to recording files",
    registers: [this.registry],
  });
  readonly recordFrames = new Counter({
    name: "roomcast_record_frames_total",
    help: "Video frames and audio packets written to recordings, by kind",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  readonly recordFramesDropped = new Counter({
    name: "roomcast_record_frames_dropped_total",
    help: "Frames not written: incomplete (lost packets), keyframe_wait, malformed, backlog (disk too slow)",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly recordErrors = new Counter({
    name: "roomcast_record_errors_total",
    help: "Recordings stopped by an error, by error code (ENOSPC, EACCES, ...)",
    labelNames: ["code"] as const,
    registers: [this.registry],
  });
  readonly recordRemux = new Counter({
    name: "roomcast_record_remux_total",
    help: "Per-session mkv remuxes by result: ok, failed, skipped",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly recordFilesDeleted = new Counter({
    name: "roomcast_record_files_deleted_total",
    help: "Recording files deleted, by reason: max_age, max_bytes, api",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });

  readonly transcodeProcesses = new Gauge({
    name: "roomcast_transcode_processes",
    help: "ffmpeg transcoder processes running, by encoder (libx264, h264_nvenc, libvpx)",
    labelNames: ["encoder"] as const,
    registers: [this.registry],
  });
  readonly transcodeRestarts = new Counter({
    name: "roomcast_transcode_restarts_total",
    help: "ffmpeg transcoder restarts, by reason: crash, stall, start_failed, start_timeout",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly transcodeErrors = new Counter({
    name: "roomcast_transcode_errors_total",
    help: "Error lines ffmpeg transcoders printed",
    registers: [this.registry],
  });
  readonly transcodeFps = new Gauge({
    name: "roomcast_transcode_rendition_fps",
    help: "Frames per second each transcoded rendition sends, over the last second",
    labelNames: ["room", "rendition"] as const,
    registers: [this.registry],
  });
  readonly transcodeBitrate = new Gauge({
    name: "roomcast_transcode_rendition_bitrate_bps",
    help: "Bits per second each transcoded rendition sends, over the last second",
    labelNames: ["room", "rendition"] as const,
    registers: [this.registry],
  });
  readonly transcodeSpeed = new Gauge({
    name: "roomcast_transcode_speed",
    help: "ffmpeg's own speed figure per transcoded room (1 = real time)",
    labelNames: ["room"] as const,
    registers: [this.registry],
  });
  readonly transcodeEncoder = new Gauge({
    name: "roomcast_transcode_encoder_info",
    help: "The encoder transcoding uses for each source codec (value 1); absent when that codec is not transcoded",
    labelNames: ["codec", "encoder"] as const,
    registers: [this.registry],
  });

  readonly admissionRejected = new Counter({
    name: "roomcast_admission_rejected_total",
    help: "WHEP sessions refused with 503 because the server's load was at its limit",
    registers: [this.registry],
  });
  readonly usPerPacket = new Gauge({
    name: "roomcast_forward_cpu_microseconds_per_packet",
    help: "CPU time per packet forwarded to a viewer, as admission control last measured it",
    registers: [this.registry],
  });
  readonly udpPackets = new Counter({
    name: "roomcast_udp_media_events_total",
    help: "The media socket: datagrams from sources no session claimed, and send errors (mostly ICMP from clients that left)",
    labelNames: ["event"] as const,
    registers: [this.registry],
  });
  readonly processCpu = new Gauge({
    name: "roomcast_process_cpu_ratio",
    help: "Share of one core the server used over the last second (what admission control reads)",
    registers: [this.registry],
  });

  readonly clusterConnected = new Gauge({
    name: "roomcast_cluster_directory_connected",
    help: "1 while the node reaches its cluster directory (the supervisor or Redis), 0 while it does not",
    registers: [this.registry],
  });
  readonly clusterRequests = new Counter({
    name: "roomcast_cluster_requests_total",
    help: "Requests this node sent elsewhere in the cluster: publish_redirect (307 to the origin or a node with headroom), play_redirect (307 at capacity), forwarded (a session request to the node that holds it)",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });

  readonly eventClients = new Gauge({
    name: "roomcast_event_clients",
    help: "Open GET /api/events streams",
    registers: [this.registry],
  });

  /** The media socket's counters at the last report, so each report adds what was counted since. */
  readonly #mediaReported: MediaSocketCounters = { unknownSource: 0, sendDropped: 0, sendErrors: 0, socketErrors: 0 };

  readonly webhookEvents = new Counter({
    name: "roomcast_webhook_events_total",
    help: "Webhook events by receiver (its id) and result: sent (2xx), failed (given up), dropped (queue full or receiver removed)",
    labelNames: ["receiver", "result"] as const,
    registers: [this.registry],
  });
  readonly webhookRetries = new Counter({
    name: "roomcast_webhook_retries_total",
    help: "Webhook delivery attempts repeated after a network error, timeout, 5xx or 429, by receiver",
    labelNames: ["receiver"] as const,
    registers: [this.registry],
  });
  readonly webhookQueued = new Gauge({
    name: "roomcast_webhook_queue_length",
    help: "Webhook events waiting for delivery (or a retry), by receiver",
    labelNames: ["receiver"] as const,
    registers: [this.registry],
  });
  readonly authHookRequests = new Counter({
    name: "roomcast_auth_hook_requests_total",
    help: "Calls to AUTH_HOOK_URL by result: allow, deny (401/403), error (other status, bad body, network), timeout",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly authHookCacheHits = new Counter({
    name: "roomcast_auth_hook_cache_hits_total",
    help: "Auth decisions answered from the auth hook cache (or shared with an identical call in flight)",
    registers: [this.registry],
  });
  readonly authHookDuration = new Histogram({
    name: "roomcast_auth_hook_duration_seconds",
    help: "How long AUTH_HOOK_URL took to answer (timeouts included)",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    for (const kind of ["publisher", "viewer"]) {
      this.sessions.labels(kind).set(0);
      this.sessionsTotal.labels(kind).inc(0);
    }
    this.liveRooms.set(0);
    for (const reason of ["crash", "stall", "start_failed", "start_timeout"]) this.transcodeRestarts.labels(reason).inc(0);
    this.transcodeErrors.inc(0);
    this.recordingsActive.set(0);
    for (const result of ["allow", "deny", "error", "timeout"]) this.authHookRequests.labels(result).inc(0);
    for (const kind of ["publish_redirect", "play_redirect", "forwarded"]) this.clusterRequests.labels(kind).inc(0);
  }

  /** A removed webhook receiver leaves no label sets behind. */
  forgetWebhookReceiver(receiver: string): void {
    for (const result of ["sent", "failed", "dropped"]) this.webhookEvents.remove(receiver, result);
    this.webhookRetries.remove(receiver);
    this.webhookQueued.remove(receiver);
  }

  /** Once a second: the CPU share and per-packet cost admission control measured. */
  reportLoad(cpu: number, usPerPacket: number): void {
    this.processCpu.set(cpu);
    this.usPerPacket.set(Math.round(usPerPacket * 100) / 100);
  }

  /**
   * Once a second: what the media socket counted since the last report. The socket counts in plain fields on its
   * hot path; the metrics follow here, off it.
   */
  reportMediaSocket(c: Readonly<MediaSocketCounters>): void {
    const last = this.#mediaReported;
    this.packetsDropped.labels("send_failed").inc(c.sendDropped - last.sendDropped);
    this.udpPackets.labels("unknown_source").inc(c.unknownSource - last.unknownSource);
    this.udpPackets.labels("send_error").inc(c.sendErrors - last.sendErrors);
    this.udpPackets.labels("socket_error").inc(c.socketErrors - last.socketErrors);
    Object.assign(last, c);
  }

  /** Closed rooms leave no label sets behind, so cardinality follows live rooms only. */
  forgetRoom(room: string): void {
    this.liveViewers.remove(room);
    this.rtpBytes.remove(room);
    this.rtpPackets.remove(room);
    this.roomBitrate.remove(room);
    this.roomViewerRtt.remove(room);
    this.roomViewerLoss.remove(room);
    this.roomViewerJitter.remove(room);
    this.transcodeSpeed.remove(room);
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
