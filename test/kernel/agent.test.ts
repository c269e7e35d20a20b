/**
 * `x0 agent` against the real kernel: the agent runs as its own process with the XDP filter on
 * one end of a veth pair (its node's namespace), and the test plays the control plane over a
 * real nats-server. Needs root, bpftool and clang (or a built object); without them it is
 * skipped with the reason, except in CI (CI=true), where it fails.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HealingAction } from "../../domains/healing/index.ts";
import { decodeCbor, EventStore, type Producer } from "../../streams/index.ts";
import type { NodeMetricsReported } from "../../domains/mesh/index.ts";
import { enrolProducer, issueCommand, storedOutcomes, until, type StoredOutcome } from "../../adapters/agent/testing.ts";
import { startTestNats, type TestNats } from "../support/nats.ts";
import { startAgentProcess, type AgentProcess } from "./agent-process.ts";
import { createVethLab, mustRunKernelTests, prepareXdp, removeStaleLabs, type VethLab } from "./veth-lab.ts";

const availability = await prepareXdp();
const reason = availability.available ? "" : availability.reason;
if (reason) console.warn(`test/kernel/agent.test.ts: skipped: ${reason}`);

if (!availability.available && mustRunKernelTests())
  describe("edge agent in CI", () => {
    it("can use XDP (CI runs as root after npm run setup)", () => {
      throw new Error(`the kernel agent tests must run in CI but cannot: ${reason}`);
    });
  });

describe.skipIf(!availability.available)(`x0 agent with XDP on a veth pair${reason ? ` (skipped: ${reason})` : ""}`, () => {
  const NODE = "edge-1";
  let nats: TestNats;
  let lab: VethLab;
  let dir: string;
  let store: EventStore;
  let controlPlane: Producer;
  let agent: AgentProcess | undefined;
  let n = 0;

  const start = async () => {
    agent = startAgentProcess(nats.url, ["--node-id", NODE, "--xdp-if", lab.xdp.iface, "--netns", lab.xdp.netns, "--data-dir", dir, "--metrics-interval", "300"]);
    await agent.ready;
  };

  /** Publishes a signed command as the control plane and waits for the node's stored outcome. */
  const command = async (action: HealingAction): Promise<StoredOutcome> => {
    const id = `k-${++n}`;
    await issueCommand(store, controlPlane, NODE, action, id);
    return until(async () => (await storedOutcomes(nats.nc, NODE)).find((o) => o.payload.commandId === id), `the outcome of ${id}`, 20_000);
  };

  const latestMetrics = async (): Promise<NodeMetricsReported> => {
    const jsm = await jetstreamManager(nats.nc);
    const m = await jsm.direct.getMessage("MESH", { last_by_subj: `mesh.${NODE}.metrics` });
    if (!m) throw new Error("no metrics yet");
    return decodeCbor(m.data) as NodeMetricsReported;
  };

  beforeAll(async () => {
    await removeStaleLabs();
    nats = await startTestNats();
    store = new EventStore(nats.nc);
    controlPlane = await enrolProducer(nats.nc, "control-plane", "control-plane");
    lab = await createVethLab();
    dir = await mkdtemp(join(tmpdir(), "x0-agent-kernel-"));
    await start();
  }, 60_000);
  afterAll(async () => {
    await agent?.stop();
    await lab?.destroy();
    await nats?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("announces the node with its key and the MAC of its filtered interface", async () => {
    const jsm = await jetstreamManager(nats.nc);
    const m = await jsm.direct.getMessage("MESH", { last_by_subj: `mesh.${NODE}.announced` });
    expect(decodeCbor(m!.data)).toMatchObject({ nodeId: NODE, primaryMac: lab.xdp.mac, macs: [lab.xdp.mac] });
    expect(agent!.output()).toMatch(/xdp\s+\S+ \(generic\)/);
  });

  it("Quarantine(mac of the peer) from the control plane: the peer's pings fail; Release: they work; outcomes arrive as events", async () => {
    expect((await lab.ping(lab.peer, lab.xdp.ipv4, 2, 0.1)).received).toBe(2);
    const source = { kind: "mac", mac: lab.peer.mac } as const;
    const quarantined = await command({ kind: "quarantine", source });
    expect(quarantined.meta).toMatchObject({ type: "heal.CommandApplied", producerId: NODE });
    expect(quarantined.payload).toMatchObject({ exitCode: 0, detail: `quarantined mac ${lab.peer.mac} on ${lab.xdp.iface}` });
    expect((await lab.ping(lab.peer, lab.xdp.ipv4, 3, 0.1)).received).toBe(0);

    // The drops reach the control plane as the node's counters.
    const metrics = await until(async () => {
      const m = await latestMetrics().catch(() => undefined);
      return m?.xdp?.[0] && m.xdp[0].dropped_block_packets >= 3 ? m : undefined;
    }, "a NodeMetricsReported counting the dropped pings", 15_000);
    expect(metrics.xdp![0]).toMatchObject({ iface: lab.xdp.iface, rules: 1 });
    expect(metrics.memory.total).toBeGreaterThan(0);

    const released = await command({ kind: "release", source });
    expect(released.payload).toMatchObject({ exitCode: 0, detail: expect.stringMatching(/quarantine removed/) });
    expect((await lab.ping(lab.peer, lab.xdp.ipv4, 3, 0.1)).received).toBe(3);
  });

  it("keeps enforcing across an agent restart: the rules stay in the kernel and the new agent takes them over", async () => {
    const source = { kind: "mac", mac: lab.peer.mac } as const;
    await command({ kind: "quarantine", source });
    expect(await agent!.stop()).toBe(0);
    expect((await lab.ping(lab.peer, lab.xdp.ipv4, 2, 0.1)).received).toBe(0);
    await start();
    expect((await lab.ping(lab.peer, lab.xdp.ipv4, 2, 0.1)).received).toBe(0);
    expect((await command({ kind: "release", source })).payload.exitCode).toBe(0);
    expect((await lab.ping(lab.peer, lab.xdp.ipv4, 2, 0.1)).received).toBe(2);
  });

  it("answers a batman-adv command on a node without batman-adv with batctl's failure", async () => {
    const outcome = await command({ kind: "hop-penalty", value: 50 });
    expect(outcome.meta.type).toBe("heal.CommandFailed");
    expect(outcome.payload.exitCode).toBeGreaterThan(0);
    expect(outcome.payload.stderr).toMatch(/bat0|batctl/);
  });
});
