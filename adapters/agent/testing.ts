/**
 * Test and benchmark helpers for the edge agent (not used by the agent itself): a control plane
 * enrolled the way `x0 up` binds it, signed commands, the outcomes a node stored, and actuators
 * that only record what they were asked to do.
 */
import { appendFileSync } from "node:fs";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { healCommandSubject, HealingCommandIssued, healOutcomeSubject, type HealingAction } from "../../domains/healing/index.ts";
import { enrolmentSubject, ProducerEnrolled } from "../../domains/identity/index.ts";
import { decodeCbor, readEnvelope, type EnvelopeMeta } from "../../streams/envelope.ts";
import { EventStore, Producer } from "../../streams/event-store.ts";
import { generateSigningKey } from "../../streams/keys.ts";
import { ProducerRegistry } from "../../streams/producer-registry.ts";
import type { ActuatorOutcome } from "../batman-adv/index.ts";
import type { NodeActuators } from "./actuators.ts";
import type { Role } from "../../streams/enrolled-roles.ts";

/**
 * Enrols a producer in `role` and binds its key in the `producers` bucket as the control plane's
 * identity projection would (appends the enrolment, then binds it at that IDENTITY sequence).
 */
export const enrolProducer = async (nc: NatsConnection, producerId: string, role: Role): Promise<Producer> => {
  const producer = new Producer(producerId, generateSigningKey());
  const store = new EventStore(nc);
  const { seq } = await store.append(
    producer.seal(ProducerEnrolled, { producerId, publicKey: producer.key.publicKey, role }, enrolmentSubject(producerId)),
  );
  const registry = await ProducerRegistry.open(nc);
  registry.introduce(producerId, producer.key.publicKey, { stream: "IDENTITY", seq });
  await registry.flush();
  return producer;
};

/** Seals an operator command for `nodeId`. */
export const commandEvent = (by: Producer, nodeId: string, action: HealingAction, commandId: string) =>
  by.seal(HealingCommandIssued, { commandId, targetNodeId: nodeId, action, issuedBy: "operator" }, healCommandSubject(nodeId), { correlationId: commandId });

/** Appends a command, retrying while the server is away (a restart); resolves with its HEAL sequence. */
export const issueCommand = async (store: EventStore, by: Producer, nodeId: string, action: HealingAction, commandId: string): Promise<number> => {
  const event = commandEvent(by, nodeId, action, commandId);
  for (let attempt = 0; ; attempt++) {
    try {
      return (await store.append(event, { timeoutMs: 2_000 })).seq;
    } catch (error) {
      if (attempt > 60) throw error;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
};

export interface StoredOutcome {
  readonly seq: number;
  readonly meta: EnvelopeMeta;
  readonly payload: { commandId: string; exitCode: number; detail?: string; stderr?: string; targetNodeId: string; incidentId?: string };
  readonly data: Uint8Array;
}

/** Every event stored on the node's outcome subject, in order. */
export const storedOutcomes = async (nc: NatsConnection, nodeId: string): Promise<StoredOutcome[]> => {
  const jsm = await jetstreamManager(nc);
  const subject = healOutcomeSubject(nodeId);
  const found: StoredOutcome[] = [];
  const info = await jsm.streams.info("HEAL", { subjects_filter: subject });
  const count = (info.state.subjects as Record<string, number> | undefined)?.[subject] ?? 0;
  if (count === 0) return found;
  let seq = 0;
  for (;;) {
    const m = await jsm.direct.getMessage("HEAL", { next_by_subj: subject, seq: seq + 1 }).catch(() => null);
    if (!m) break;
    seq = m.seq;
    const meta = readEnvelope(m.subject, m.header);
    if (meta instanceof Error) throw meta;
    found.push({ seq, meta, payload: decodeCbor(m.data) as StoredOutcome["payload"], data: m.data });
  }
  return found;
};

/** Actuators that carry nothing out: they record each command id (in memory, or appended to a file) and answer as told. */
export class RecordingActuators implements NodeActuators {
  readonly executed: string[] = [];

  constructor(
    private readonly file?: string,
    private readonly answer: (action: HealingAction) => ActuatorOutcome = (action) => ({ exitCode: 0, detail: `recorded ${action.kind}`, stderr: "" }),
  ) {}

  async apply(action: HealingAction, command?: HealingCommandIssued): Promise<ActuatorOutcome> {
    const id = command?.commandId ?? "?";
    this.executed.push(id);
    if (this.file) appendFileSync(this.file, `${id}\n`);
    return this.answer(action);
  }
}

export const until = async <T>(probe: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 30_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};
