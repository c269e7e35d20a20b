import * as Schema from "effect/Schema";
import { chaosReport, collectChaosLog, Fault, FaultCleared, FaultInjected, faultSubject, ScenarioError, type ChaosReport, type Scenario } from "../../domains/chaos/index.ts";
import { enrolmentSubject, ProducerEnrolled } from "../../domains/identity/index.ts";
import { connectNats } from "../../streams/connection.ts";
import { EventStore, type Producer } from "../../streams/event-store.ts";
import { readEvents } from "../../streams/event-reader.ts";
import { ProducerRegistry } from "../../streams/producer-registry.ts";
import { distanceM, runSim } from "../twin/index.ts";
import { TargetPicker } from "./picks.ts";

export interface ChaosRunOptions {
  /** NATS server URL(s); a control plane (`x0 up`) must be running there. */
  readonly servers: string | readonly string[];
  readonly scenario: Scenario;
  /** Signs the fault events; enrolled on IDENTITY with role chaos on first use. */
  readonly producer: Producer;
  /** How long to wait for the control plane to bind the chaos key, ms. Default 15 000. */
  readonly enrolTimeoutMs?: number;
  /** Progress lines. Default: none. */
  readonly log?: (line: string) => void;
}

export interface ChaosRunResult {
  readonly report: ChaosReport;
  /** Each scenario fault as injected, picks resolved. */
  readonly faults: readonly { readonly id: string; readonly fault: Fault; readonly injectedAt: number; readonly clearedAt?: number }[];
  readonly startedAt: number;
  readonly endedAt: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const decodeFault = Schema.decodeUnknownSync(Fault);

/**
 * `x0 chaos`: runs the scenario's mesh as a twin (answering healing commands), breaks it as
 * the scenario says, records each fault on HEAL (`chaos.FaultInjected` / `FaultCleared`,
 * signed), then reads HEAL back and reports what the loop made of each fault — from the log
 * alone, as an auditor would.
 */
export const runChaos = async (options: ChaosRunOptions): Promise<ChaosRunResult> => {
  const { scenario, producer } = options;
  const log = options.log ?? (() => undefined);
  const nc = await connectNats({ servers: options.servers, name: `x0-chaos-${scenario.name}` });
  try {
    const store = new EventStore(nc);
    const registry = await ProducerRegistry.open(nc, { follow: true });
    try {
      await enrol(store, registry, producer, options.enrolTimeoutMs ?? 15_000);
    } finally {
      registry.close();
    }
    const sim = await runSim({
      servers: options.servers,
      ...(scenario.mesh.nodes !== undefined ? { nodes: scenario.mesh.nodes } : {}),
      ...(scenario.mesh.topologyFile !== undefined ? { topologyFile: scenario.mesh.topologyFile } : {}),
      ...(scenario.mesh.intervalMs !== undefined ? { intervalMs: scenario.mesh.intervalMs } : {}),
      ...(scenario.mesh.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: scenario.mesh.heartbeatIntervalMs } : {}),
      seed: scenario.mesh.seed ?? 1,
      agent: true,
      log,
    });
    const injected: { id: string; fault: Fault; injectedAt: number; clearedAt?: number }[] = [];
    const startedAt = Date.now();
    try {
      const picker = new TargetPicker(sim.twin);
      const planned = scenario.faults.map((f) => {
        let fault: Fault;
        try {
          fault = decodeFault(picker.resolve(f.fault));
        } catch (error) {
          throw new ScenarioError(`fault ${f.id}: ${(error as Error).message}`);
        }
        return { ...f, fault };
      });
      const warmUpMs = scenario.warmUpMs ?? 15_000;
      log(`chaos: ${scenario.name}: ${sim.twin.describe()}; warming up ${warmUpMs / 1000} s`);
      await sleep(warmUpMs);
      const zero = Date.now();
      type Step = { at: number; run: () => Promise<void> };
      const steps: Step[] = [];
      for (const f of planned) {
        steps.push({
          at: zero + f.atMs,
          run: async () => {
            const injectedAt = Date.now();
            sim.twin.inject(f.id, f.fault);
            injected.push({ id: f.id, fault: f.fault, injectedAt });
            await store.append(producer.seal(FaultInjected, { faultId: f.id, scenario: scenario.name, fault: f.fault, injectedAt }, faultSubject(f.id)));
            log(`chaos: injected ${f.id}: ${JSON.stringify(f.fault)}`);
          },
        });
        if (f.clearAfterMs !== undefined) {
          steps.push({
            at: zero + f.atMs + f.clearAfterMs,
            run: async () => {
              const clearedAt = Date.now();
              sim.twin.clear(f.id);
              const record = injected.find((i) => i.id === f.id);
              if (record) record.clearedAt = clearedAt;
              await store.append(producer.seal(FaultCleared, { faultId: f.id, clearedAt }, faultSubject(f.id)));
              log(`chaos: cleared ${f.id}`);
            },
          });
        }
      }
      steps.sort((a, b) => a.at - b.at);
      for (const step of steps) {
        await sleep(step.at - Date.now());
        await step.run();
      }
      await sleep(zero + scenario.durationMs - Date.now());
    } finally {
      await sim.stop();
    }
    const endedAt = Date.now();
    const events: { type: string; data: unknown }[] = [];
    for await (const e of readEvents(nc, { subject: "heal.>", start: { time: new Date(startedAt) } })) {
      if (e.status === "verified" && e.meta) events.push({ type: e.meta.type, data: e.payload });
    }
    const { faults, incidents } = collectChaosLog(events);
    const mine = new Set(injected.map((i) => i.id));
    const regionNodes = (fault: Fault): string[] => {
      if (fault.kind !== "jamming") return [];
      // Jamming blames whatever links it hits: any node within twice the radius counts.
      return (sim.twin.topology?.nodes ?? []).filter((n) => n.location && distanceM(n.location, fault.center) <= 2 * fault.radiusM).map((n) => n.id);
    };
    return { report: chaosReport(faults.filter((f) => mine.has(f.faultId)), incidents, { regionNodes }), faults: injected, startedAt, endedAt };
  } finally {
    await nc.drain().catch(() => nc.close());
  }
};

/** Enrols the chaos key unless bound already, and waits until the control plane has bound it. */
const enrol = async (store: EventStore, registry: ProducerRegistry, producer: Producer, timeoutMs: number): Promise<void> => {
  const bound = registry.get(producer.producerId);
  if (bound && bound.keyId === producer.key.keyId) return;
  if (bound) throw new ScenarioError(`producer id ${producer.producerId} is bound to another key (${bound.keyId})`);
  await store.append(
    producer.seal(ProducerEnrolled, { producerId: producer.producerId, publicKey: producer.key.publicKey, role: "chaos", description: "x0 chaos" }, enrolmentSubject(producer.producerId)),
  );
  for (const deadline = Date.now() + timeoutMs; !registry.get(producer.producerId); ) {
    if (Date.now() > deadline) throw new ScenarioError(`the control plane did not bind the chaos key within ${timeoutMs / 1000} s: is x0 up running on this NATS?`);
    await sleep(100);
  }
};
