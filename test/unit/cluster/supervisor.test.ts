// The supervisor: first as it really runs (a bun process starting node processes of the same script, which pin
// themselves and join its directory; one SIGKILLed and started again; SIGTERM forwarded; a node deaf to it killed
// at the deadline), then its restart and stop rules on a driven clock with processes made of IPC port pairs,
// where waiting for real backoffs of up to 15 s would make the suite slow.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it, vi } from "vitest";
import { portPair } from "../../../src/cluster/ipc.ts";
import { Supervisor, type SupervisorClock } from "../../../src/cluster/supervisor.ts";
import { SupervisorState } from "../../../src/cluster/supervisorState.ts";
import type { ExitStatus, SpawnedProcess, SpawnSpec } from "../../../src/platform/process.ts";
import { silentLog } from "./helpers/report.ts";

const FIXTURE = fileURLToPath(new URL("./fixtures/supervisorMain.ts", import.meta.url));

interface LogLine {
  msg: string;
  index?: number;
  pid?: number;
  [k: string]: unknown;
}

const running: ChildProcess[] = [];
afterEach(() => {
  for (const p of running.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
});

function startSupervisor(env: Record<string, string>) {
  const proc = spawn("bun", [FIXTURE], { env: { ...process.env, LOG_LEVEL: "info", ...env }, stdio: ["ignore", "pipe", "inherit"] });
  running.push(proc);
  const lines: LogLine[] = [];
  let buf = "";
  proc.stdout?.on("data", (d: Buffer) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(line) as LogLine);
      } catch {
        // Not a log line.
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  const nodesUp = () => lines.filter((l) => l["fixture"] === "node up");
  return { proc, lines, exited, nodesUp };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("the supervisor process", () => {
  it("starts WORKERS pinned nodes on their own ports, restarts one that is killed, and stops them all on SIGTERM", async () => {
    const sup = startSupervisor({ WORKERS: "2", PORT: "18400", RTC_PORT_MIN: "41000", RTC_PORT_MAX: "41003" });
    await vi.waitFor(() => expect(sup.nodesUp()).toHaveLength(2), { timeout: 15_000, interval: 50 });
    const [n0, n1] = [0, 1].map((i) => sup.nodesUp().find((l) => l.index === i) as LogLine);
    expect(n0).toMatchObject({ directPort: 18401, rtcPortRange: [41000, 41001], workers: 2 });
    expect(n1).toMatchObject({ directPort: 18402, rtcPortRange: [41002, 41003], workers: 2 });
    expect(n0?.["node"]).not.toBe(n1?.["node"]);
    // One random secret for the run, the same in every node.
    expect(n0?.["secret"]).toBe(n1?.["secret"]);
    expect(n0?.["secret"]).not.toBe("e3b0c44298fc");
    if (process.platform === "linux") {
      expect(n0?.["pin"]).toMatchObject({ pinned: true });
      expect(n1?.["pin"]).toMatchObject({ pinned: true });
      // Two cores here: one each.
      expect((n0?.["pin"] as { cpu: number }).cpu).not.toBe((n1?.["pin"] as { cpu: number }).cpu);
    }

    process.kill(n0?.pid as number, "SIGKILL");
    await vi.waitFor(() => expect(sup.nodesUp().filter((l) => l.index === 0)).toHaveLength(2), { timeout: 10_000, interval: 50 });
    const died = sup.lines.find((l) => l.msg === "node died" && l.index === 0);
    expect(died).toMatchObject({ signal: "SIGKILL" });
    expect(sup.lines.find((l) => l.msg === "restarting node" && l.index === 0)).toMatchObject({ inMs: 500 });
    const again = sup.nodesUp().filter((l) => l.index === 0)[1] as LogLine;
    expect(again.pid).not.toBe(n0?.pid);
    expect(again).toMatchObject({ directPort: 18401, rtcPortRange: [41000, 41001] });

    sup.proc.kill("SIGTERM");
    expect(await sup.exited).toBe(0);
    expect(alive(again.pid as number)).toBe(false);
    expect(alive(n1?.pid as number)).toBe(false);
    expect(sup.lines.filter((l) => l.msg === "node stopped").map((l) => [l.index, l["code"]]).sort()).toEqual([
      [0, 0],
      [1, 0],
    ]);
  });

  it("exits non-zero when a node does not stop within the deadline, and kills it", async () => {
    const sup = startSupervisor({ WORKERS: "2", PORT: "0", FIXTURE_IGNORE_TERM: "1", FIXTURE_DEADLINE: "700" });
    await vi.waitFor(() => expect(sup.nodesUp()).toHaveLength(2), { timeout: 15_000, interval: 50 });
    const deaf = sup.nodesUp().find((l) => l.index === 1) as LogLine;
    expect(deaf["directPort"]).toBe(0);
    sup.proc.kill("SIGTERM");
    expect(await sup.exited).toBe(1);
    expect(sup.lines.find((l) => l.msg === "node did not stop in time; killing it")).toMatchObject({ index: 1 });
    expect(alive(deaf.pid as number)).toBe(false);
  });
});

/** A clock whose time moves only when the test says. */
function drivenClock() {
  let now = 0;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const clock: SupervisorClock & { advance(ms: number): Promise<void>; pending(): number[] } = {
    now: () => now,
    setTimeout: (fn, ms) => {
      timers.set(++seq, { at: now + ms, fn });
      return seq;
    },
    clearTimeout: (h) => void timers.delete(h as number),
    async advance(ms) {
      const until = now + ms;
      for (;;) {
        const due = [...timers].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].fn();
        await flush();
      }
      now = until;
      await flush();
    },
    pending: () => [...timers.values()].map((t) => t.at - now),
  };
  return clock;
}

const flush = () => new Promise<void>((r) => setImmediate(r));

/** A node process made of a port pair: the test says when it is ready (registers) and when it exits. */
interface FakeNode extends SpawnedProcess {
  spec: SpawnSpec;
  signals: string[];
  ready(): Promise<void>;
  exit(status: ExitStatus): Promise<void>;
}

function fakeSpawner() {
  const spawned: FakeNode[] = [];
  let pid = 1000;
  let ids = 0;
  const spawnFake = (spec: SpawnSpec): SpawnedProcess => {
    const pair = portPair();
    let resolveExit!: (s: ExitStatus) => void;
    const exited = new Promise<ExitStatus>((r) => (resolveExit = r));
    const id = `N${String(++ids).padStart(3, "0")}`;
    const fake: FakeNode = {
      pid: ++pid,
      port: pair[0],
      exited,
      spec,
      signals: [],
      kill(signal) {
        fake.signals.push(signal);
      },
      async ready() {
        pair[1].send({ t: "req", id: 1, op: "register", req: { id, instance: id, info: { id, url: "http://n", startedAt: 0, load: { cpu: 0, viewers: 0, rooms: 0, headroomPps: 0 } } } });
        await flush();
        await flush();
      },
      async exit(status) {
        pair.close();
        resolveExit(status);
        await flush();
      },
    };
    spawned.push(fake);
    return fake;
  };
  return { spawned, spawnFake };
}

function supervisor(opts: { workers?: number; secret?: string; stopDeadlineMs?: number; onGiveUp?: (r: string) => void } = {}) {
  const clock = drivenClock();
  const { spawned, spawnFake } = fakeSpawner();
  const state = new SupervisorState({ log: silentLog, sweepMs: 0 });
  const sup = new Supervisor({
    workers: opts.workers ?? 1,
    env: { PATH: "/bin", WORKERS: "auto" },
    secret: opts.secret,
    command: ["/usr/bin/roomcast"],
    spawn: spawnFake,
    state,
    log: silentLog,
    clock,
    stopDeadlineMs: opts.stopDeadlineMs,
    onGiveUp: opts.onGiveUp,
  });
  return { sup, clock, spawned, state };
}

describe("Supervisor rules", () => {
  it("gives each node its index, the resolved worker count and one secret", () => {
    const { sup, spawned } = supervisor({ workers: 3 });
    sup.start();
    expect(spawned.map((n) => n.spec.cmd)).toEqual([["/usr/bin/roomcast"], ["/usr/bin/roomcast"], ["/usr/bin/roomcast"]]);
    expect(spawned.map((n) => [n.spec.env["ROOMCAST_WORKER"], n.spec.env["WORKERS"], n.spec.env["PATH"]])).toEqual([
      ["0", "3", "/bin"],
      ["1", "3", "/bin"],
      ["2", "3", "/bin"],
    ]);
    const secrets = new Set(spawned.map((n) => n.spec.env["CLUSTER_SECRET"]));
    expect(secrets.size).toBe(1);
    expect([...secrets][0]).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(supervisor({ secret: "operator-secret-123" }).sup.secret).toBe("operator-secret-123");
  });

  it("restarts a node that died after 0.5 s, doubling to 15 s while it keeps dying, and resets after 30 s up", async () => {
    const { sup, clock, spawned } = supervisor();
    sup.start();
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      const node = spawned[spawned.length - 1] as FakeNode;
      await node.ready();
      expect(sup.nodes[0]?.state).toBe("running");
      await clock.advance(1000);
      await node.exit({ code: 1, signal: null });
      expect(sup.nodes[0]?.state).toBe("restarting");
      const [delay] = clock.pending();
      delays.push(delay as number);
      await clock.advance(delay as number);
      expect(spawned).toHaveLength(i + 2);
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 15_000, 15_000, 15_000]);
    const node = spawned[spawned.length - 1] as FakeNode;
    await node.ready();
    await clock.advance(30_000);
    await node.exit({ code: null, signal: "SIGSEGV" });
    expect(clock.pending()).toEqual([500]);
    expect(sup.nodes[0]?.restarts).toBe(9);
  });

  it("gives up after a node died 5 times in a row before it was ready, stopping the others", async () => {
    const reasons: string[] = [];
    const { sup, clock, spawned } = supervisor({ workers: 2, onGiveUp: (r) => reasons.push(r) });
    sup.start();
    const other = spawned[1] as FakeNode;
    await other.ready();
    for (let i = 0; i < 5; i++) {
      const failing = spawned.filter((n) => n.spec.env["ROOMCAST_WORKER"] === "0").at(-1) as FakeNode;
      await failing.exit({ code: 1, signal: null });
      if (i < 4) await clock.advance(clock.pending()[0] as number);
    }
    expect(other.signals).toEqual(["SIGTERM"]);
    await other.exit({ code: 0, signal: null });
    await vi.waitFor(() => expect(reasons).toEqual(["node 0 died 5 times before it was ready"]));
    expect(clock.pending()).toEqual([]);
    expect(spawned.filter((n) => n.spec.env["ROOMCAST_WORKER"] === "0")).toHaveLength(5);
  });

  it("forwards the signal to every node and reports a clean stop when all exit 0", async () => {
    const { sup, spawned, state } = supervisor({ workers: 2 });
    sup.start();
    await Promise.all(spawned.map((n) => n.ready()));
    expect(state.store.nodes()).toHaveLength(2);
    const stopped = sup.stop("SIGINT");
    expect(sup.stop("SIGTERM")).toBe(stopped);
    expect(spawned.map((n) => n.signals)).toEqual([["SIGINT"], ["SIGINT"]]);
    await Promise.all(spawned.map((n) => n.exit({ code: 0, signal: null })));
    expect(await stopped).toBe(true);
    expect(sup.nodes.map((n) => n.state)).toEqual(["stopped", "stopped"]);
  });

  it("reports an unclean stop for a node that exits non-zero, and kills one still running at the deadline", async () => {
    const { sup, clock, spawned } = supervisor({ workers: 2, stopDeadlineMs: 6000 });
    sup.start();
    await Promise.all(spawned.map((n) => n.ready()));
    const stopped = sup.stop("SIGTERM");
    await (spawned[0] as FakeNode).exit({ code: 1, signal: null });
    let done = false;
    void stopped.then(() => (done = true));
    await clock.advance(5999);
    expect(done).toBe(false);
    expect((spawned[1] as FakeNode).signals).toEqual(["SIGTERM"]);
    await clock.advance(1);
    expect((spawned[1] as FakeNode).signals).toEqual(["SIGTERM", "SIGKILL"]);
    await (spawned[1] as FakeNode).exit({ code: null, signal: "SIGKILL" });
    expect(await stopped).toBe(false);
  });

  it("starts nothing more once stopping, even with a restart pending", async () => {
    const { sup, clock, spawned } = supervisor();
    sup.start();
    await (spawned[0] as FakeNode).ready();
    await (spawned[0] as FakeNode).exit({ code: 1, signal: null });
    expect(clock.pending()).toEqual([500]);
    expect(await sup.stop("SIGTERM")).toBe(true);
    await clock.advance(60_000);
    expect(spawned).toHaveLength(1);
    expect(sup.nodes[0]?.state).toBe("stopped");
  });
});
