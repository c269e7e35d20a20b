/**
 * Test fixture, run as its own process by agent.integration.test.ts: an edge agent whose
 * actuators only append each command id to a file, and which kills itself with SIGKILL right
 * after the outcome of a chosen command is stored, before that command is checkpointed: the
 * worst moment for "no command lost, none applied twice".
 *
 *   crash-fixture.ts <natsUrl> <nodeId> <dataDir> <recordFile> [killAfterCommandId]
 *
 * Prints "ready" once consuming.
 */
import { connectNats } from "../../streams/connection.ts";
import { EdgeAgent } from "./agent.ts";
import { RecordingActuators } from "./testing.ts";

const [url = "", nodeId = "", dataDir = "", recordFile = "", killAfter] = process.argv.slice(2);
const nc = await connectNats({ servers: url, name: `crash-fixture-${nodeId}` });
const agent = await EdgeAgent.start(nc, {
  nodeId,
  dataDir,
  telemetry: false,
  addresses: { primaryMac: "02:00:00:00:0c:01", macs: [] },
  actuators: new RecordingActuators(recordFile),
  onOutcomeStored: (commandId) => {
    if (commandId === killAfter) process.kill(process.pid, "SIGKILL");
  },
});
process.stdout.write("ready\n");
process.once("SIGTERM", () => {
  void agent.stop().then(() => nc.close()).then(() => process.exit(0));
});
