// The channel between the supervisor and each node process, and what travels on it. The port is structural so
// the same code runs over Bun.spawn's ipc, Node's child_process (tests under vitest) or an in-memory pair.
// Messages are plain JSON values (the channel's "json" serialization): requests with an id answered once, and
// bus messages pushed to every node.
import type { HeartbeatRequest, RegisterRequest } from "./backend.ts";
import type { NodeId } from "./ids.ts";
import type { BusEnvelope } from "./messages.ts";

export interface IpcPort {
  send(msg: unknown): void;
  onMessage(listener: (msg: unknown) => void): void;
  /** The other side went away: its process exited, or it closed the channel. Called once. */
  onClose(listener: () => void): void;
}

/** What a node asks of the supervisor; each names the backend operation it stands for. */
export type IpcRequest =
  | { op: "register"; req: RegisterRequest }
  | { op: "heartbeat"; req: HeartbeatRequest }
  | { op: "claim"; room: string; node: NodeId }
  | { op: "release"; room: string; node: NodeId }
  | { op: "origin"; room: string }
  | { op: "nodes" }
  | { op: "presence" }
  | { op: "publish"; envelope: BusEnvelope }
  | { op: "leave"; node: NodeId; instance: string; rooms: string[] };

export type NodeToSupervisor = { t: "req"; id: number } & IpcRequest;

export type SupervisorToNode =
  | { t: "res"; id: number; ok: true; value: unknown }
  | { t: "res"; id: number; ok: false; error: string }
  | { t: "bus"; envelope: BusEnvelope };

/** Two connected ports in one process: the supervisor's state and a node's directory without processes. */
export function portPair(): [IpcPort, IpcPort] & { close(): void } {
  type Side = { message: ((m: unknown) => void)[]; close: (() => void)[] };
  const sides: [Side, Side] = [
    { message: [], close: [] },
    { message: [], close: [] },
  ];
  let closed = false;
  const port = (self: Side, other: Side): IpcPort => ({
    // JSON round trip and a task later: what crosses a real channel is a copy, and arrives asynchronously.
    send: (msg) => {
      if (closed) return;
      const copy = JSON.parse(JSON.stringify(msg)) as unknown;
      setImmediate(() => {
        if (!closed) for (const l of other.message) l(copy);
      });
    },
    onMessage: (l) => void self.message.push(l),
    onClose: (l) => void self.close.push(l),
  });
  const pair = [port(sides[0], sides[1]), port(sides[1], sides[0])] as [IpcPort, IpcPort] & { close(): void };
  pair.close = () => {
    if (closed) return;
    closed = true;
    for (const side of sides) for (const l of side.close) l();
  };
  return pair;
}
