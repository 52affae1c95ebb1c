// What a server would report to its directory, as plain data the test changes.
import pino from "pino";
import type { NodeLoad, NodeReport, RoomPresence } from "../../../../src/cluster/directory.ts";

export interface TestReport extends NodeReport {
  loadNow: NodeLoad;
  rooms: RoomPresence[];
}

export function testReport(load: Partial<NodeLoad> = {}): TestReport {
  const r: TestReport = {
    loadNow: { cpu: 0.1, viewers: 0, rooms: 0, headroomPps: 10_000, ...load },
    rooms: [],
    load: () => r.loadNow,
    presence: () => r.rooms,
  };
  return r;
}

export const silentLog = pino({ level: "silent" });

export function presence(room: string, p: Partial<RoomPresence> = {}): RoomPresence {
  return { room, origin: false, hasPublisher: false, tracks: 0, viewers: 0, layers: 0, ...p };
}
