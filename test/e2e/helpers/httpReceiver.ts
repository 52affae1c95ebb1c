// A real HTTP server in the test process, standing for a webhook receiver or an auth service: it records every
// request (raw body included, for signature checks) and answers as the test's handler says.
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The raw body as received, byte for byte (UTF-8). */
  body: string;
  receivedAt: number;
}

export interface Reply {
  status: number;
  body?: string;
  headers?: Record<string, string>;
  /** Answer only after this long; a delay longer than the caller's timeout is a receiver that hangs. */
  delayMs?: number;
}

export type ReplyHandler = (req: ReceivedRequest) => Reply | Promise<Reply>;

export interface HttpReceiver {
  url: string;
  requests: ReceivedRequest[];
  /** Requests still being answered (their handler or delay running). */
  readonly open: number;
  handler: ReplyHandler;
  /** Resolves with the requests once at least `n` have arrived. */
  waitForRequests(n: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

export const json = (status: number, value: unknown): Reply => ({ status, body: JSON.stringify(value), headers: { "Content-Type": "application/json" } });

export async function startHttpReceiver(handler: ReplyHandler = () => ({ status: 204 })): Promise<HttpReceiver> {
  const requests: ReceivedRequest[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  let open = 0;
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const r: ReceivedRequest = {
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        receivedAt: Date.now(),
      };
      requests.push(r);
      for (const w of [...waiters]) {
        if (requests.length >= w.n) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
      open++;
      void Promise.resolve(receiver.handler(r)).then((reply) => {
        const send = () => {
          open--;
          if (res.destroyed) return;
          res.writeHead(reply.status, reply.headers ?? {});
          res.end(reply.body ?? "");
        };
        if (!reply.delayMs) return send();
        const t = setTimeout(() => {
          timers.delete(t);
          send();
        }, reply.delayMs);
        timers.add(t);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const receiver: HttpReceiver = {
    url: `http://127.0.0.1:${port}`,
    requests,
    get open() {
      return open;
    },
    handler,
    waitForRequests(n, timeoutMs = 10_000) {
      if (requests.length >= n) return Promise.resolve(requests);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${requests.length} of ${n} requests arrived in ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve(requests);
          },
        });
      });
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return receiver;
}
