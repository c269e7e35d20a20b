import { jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import * as Result from "effect/Result";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FlClient, FlCoordinator, FlValidator, type ByzantineBehaviour, type TrainFunction } from "../../adapters/fl/protocol/index.ts";
import { contentId, modelBytes, modelFromBytes, type CommitTimedOut, type GlobalModelCommitted } from "../../domains/fl/index.ts";
import type { StrategyConfig } from "../../domains/fl/aggregate/index.ts";
import { genesisHead, verifyModelChain } from "../../domains/fl/round/chain.ts";
import { decodeServerState } from "../../domains/fl/round/server-state.ts";
import { enrolmentSubject, ProducerEnrolled } from "../../domains/identity/index.ts";
import { IdentityProjection } from "../../projections/identity/index.ts";
import { KnowledgeBaseProjection } from "../../projections/knowledge-base/index.ts";
import { EventStore, generateSigningKey, Producer, ProducerRegistry, ProjectionRunner, VerifyPool } from "../../streams/index.ts";
import { ModelStore, type ModelBytesStore } from "../../streams/model-store.ts";
import { testNode } from "../support/mesh.ts";
import { startTestNats, type TestNats } from "../support/nats.ts";

/** A model of 1 000 parameters: 4 000 bytes, inline in events unless a client is told otherwise. */
const initial = Float32Array.from({ length: 1_000 }, (_, i) => Math.sin(i) / 10);

/** Local "training" that is instant and deterministic: the global model plus a constant. */
const addConstant = (c: number, examples: number): TrainFunction => ({ global }) => ({ weights: global.map((w) => w + c), examples, loss: 1 / (1 + c) });

interface ClientSpec {
  readonly id: string;
  readonly add: number;
  readonly examples: number;
  /** 0: weights through the object store. */
  readonly inlineMaxBytes?: number;
  readonly models?: (real: ModelStore) => ModelBytesStore;
}

interface ClusterSpec {
  readonly modelId: string;
  readonly validators?: number;
  readonly f?: number;
  readonly byzantine?: Readonly<Record<string, ByzantineBehaviour>>;
  readonly clients: readonly ClientSpec[];
  readonly phaseTimeoutMs?: number;
  /** Default FedAvg. */
  readonly strategy?: StrategyConfig;
  /** Wraps the coordinator's model store (to tamper with objects at a chosen moment). */
  readonly coordinatorModels?: (real: ModelStore) => ModelBytesStore;
}

describe("FL protocol over a real nats-server: clients, a coordinator and BFT validators, each its own actor and connection", () => {
  let nats: TestNats;
  let registry: ProducerRegistry;
  let pool: VerifyPool;
  const runners: ProjectionRunner[] = [];
  const stops: (() => Promise<void>)[] = [];
  let nodeIndex = 0;

  beforeAll(async () => {
    nats = await startTestNats();
    registry = await ProducerRegistry.open(nats.nc);
    pool = new VerifyPool({ workers: 1 });
    // The control plane's key-binding projections: enrolments (coordinator, validators) and node announcements (clients).
    for (const projection of [new IdentityProjection(nats.nc, { registry }), new KnowledgeBaseProjection(nats.nc)]) {
      const runner = new ProjectionRunner(nats.nc, projection, registry, { verifyPool: pool, checkpointIntervalMs: 50 });
      await runner.start();
      runners.push(runner);
    }
  });

  afterAll(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    for (const runner of runners) await runner.stop();
    await pool?.close();
    await nats?.close();
  });

  /** Starts every actor of one model on its own connection; clients are mesh nodes, the others enrol. */
  const cluster = async (spec: ClusterSpec) => {
    const { modelId } = spec;
    const n = spec.validators ?? 4;
    const f = spec.f ?? 1;
    const validatorIds = Array.from({ length: n }, (_, i) => `${modelId}-v${i + 1}`);
    const coordinatorProducer = new Producer(`${modelId}-coord`, generateSigningKey());
    const common = { modelId, coordinatorId: coordinatorProducer.producerId, verifyPool: pool, tickMs: 50 };

    // Keys first, as a control plane binds them: clients announce themselves as mesh nodes, validators enrol.
    // They are in the `producers` bucket before any actor opens its registry from it.
    const store = new EventStore(nats.nc);
    const nodes = spec.clients.map((c) => ({ spec: c, node: testNode(c.id, ++nodeIndex) }));
    let meshSeq = 0;
    for (const { node } of nodes) meshSeq = (await store.append(node.announce())).seq;
    const validatorProducers = validatorIds.map((id) => new Producer(id, generateSigningKey()));
    let identitySeq = 0;
    for (const p of validatorProducers) {
      identitySeq = (await store.append(p.seal(ProducerEnrolled, { producerId: p.producerId, publicKey: p.key.publicKey, role: "fl-validator" }, enrolmentSubject(p.producerId)))).seq;
    }
    await runners[0]!.waitFor(identitySeq, { durable: true });
    await runners[1]!.waitFor(meshSeq, { durable: true });

    const validators: FlValidator[] = await Promise.all(
      validatorProducers.map(async (producer) =>
        FlValidator.start(await nats.connect(producer.producerId), {
          ...common,
          producer,
          ...(spec.byzantine?.[producer.producerId] ? { byzantine: spec.byzantine[producer.producerId] } : {}),
        }),
      ),
    );
    const clients = await Promise.all(
      nodes.map(async ({ spec: c, node }) => {
        const nc = await nats.connect(c.id);
        const real = await ModelStore.open(nc);
        return FlClient.start(nc, {
          ...common,
          producer: node.producer,
          train: addConstant(c.add, c.examples),
          ...(c.inlineMaxBytes !== undefined ? { inlineMaxBytes: c.inlineMaxBytes } : {}),
          ...(c.models ? { models: c.models(real) } : {}),
        });
      }),
    );
    // The coordinator enrols itself as it starts (the actors' registries follow the bucket).
    const coordinatorNc = await nats.connect(coordinatorProducer.producerId);
    const coordinatorModels = await ModelStore.open(coordinatorNc);
    const coordinator = await FlCoordinator.start(coordinatorNc, {
      ...common,
      producer: coordinatorProducer,
      enrolAs: "fl-coordinator",
      strategy: spec.strategy ?? { name: "fedavg" },
      population: spec.clients.map((c) => c.id),
      validators: validatorIds,
      f,
      minUpdates: 1,
      roundDurationMs: 15_000,
      phaseTimeoutMs: spec.phaseTimeoutMs ?? 1_500,
      seed: 7,
      initialWeights: initial,
      ...(spec.coordinatorModels ? { models: spec.coordinatorModels(coordinatorModels) } : {}),
    });
    const everyone = [coordinatorProducer.producerId, ...validatorIds, ...spec.clients.map((c) => c.id)];
    for (const actor of [coordinator, ...validators, ...clients]) await actor.waitForKeys(everyone);
    const stop = async () => {
      for (const actor of [coordinator, ...validators, ...clients]) await actor.stop();
    };
    stops.push(stop);
    /** Stops validator i and starts it again: same key, new connection, a view rebuilt from the stream. */
    const restartValidator = async (i: number) => {
      await validators[i]!.stop();
      const producer = validatorProducers[i]!;
      validators[i] = await FlValidator.start(await nats.connect(`${producer.producerId}-again`), { ...common, producer });
      await validators[i]!.waitForKeys(everyone);
      return validators[i]!;
    };
    return { coordinator, validators, clients, validatorIds, stop, restartValidator };
  };

  /** How many events the FL stream holds on a subject. */
  const countOn = async (subject: string) => {
    const info = await (await jetstreamManager(nats.nc)).streams.info("FL", { subjects_filter: subject });
    return info.state.subjects?.[subject] ?? 0;
  };

  const readModel = async (cid: string) => modelFromBytes(await (await ModelStore.open(nats.nc)).get(cid));

  it("commits with f = 1 Byzantine validator out of 4 voting for a made-up model, and chains two rounds", async () => {
    const { coordinator, validators, validatorIds, clients } = await cluster({
      modelId: "byz",
      byzantine: { "byz-v4": "wrong-cid" },
      clients: [
        { id: "byz-c1", add: 1, examples: 100 },
        { id: "byz-c2", add: 2, examples: 300 },
        { id: "byz-c3", add: 4, examples: 600, inlineMaxBytes: 0 },
      ],
    });

    const first = await coordinator.runRound(30_000);
    expect(first.type).toBe("fl.GlobalModelCommitted");
    const committed = first.data as GlobalModelCommitted;
    expect(committed.validators).toEqual(validatorIds.slice(0, 3));
    expect(committed.quorum).toBe(3);
    expect(committed.previousModelCid).toBe(contentId(modelBytes(initial)));

    // FedAvg weighted by examples: (1·100 + 2·300 + 4·600) / 1 000 = 3.1 added to every weight.
    const model = await readModel(committed.modelCid);
    expect(model).toHaveLength(initial.length);
    for (const i of [0, 1, 499, 999]) expect(model[i]).toBeCloseTo(initial[i]! + 3.1, 5);

    // The Byzantine prepare is on the stream, as dissent; the honest validators all agreed.
    const round1 = coordinator.view.rounds.get(1)!;
    expect(round1.commit!.prepares.find((v) => v.validator === "byz-v4")?.modelCid).not.toBe(committed.modelCid);
    expect(validators.slice(0, 3).map((v) => v.stats.agreed)).toEqual([1, 1, 1]);
    expect(clients.map((c) => c.stats.submitted)).toEqual([1, 1, 1]);
    // Four validators and the coordinator race to finalize; the outcome subject holds one event.
    expect(await countOn("fl.byz.1.outcome")).toBe(1);

    const second = await coordinator.runRound(30_000);
    expect(second.type).toBe("fl.GlobalModelCommitted");
    const again = second.data as GlobalModelCommitted;
    expect(again.round).toBe(2);
    expect(again.previousModelCid).toBe(committed.modelCid);
    const chain = verifyModelChain(genesisHead("byz", contentId(modelBytes(initial))), coordinator.commits());
    expect(Result.isSuccess(chain) && chain.success).toMatchObject({ round: 2, modelCid: again.modelCid });
    expect((await readModel(again.modelCid))[0]).toBeCloseTo(initial[0]! + 6.2, 4);
    // Every validator's own view agrees on the chain's head.
    for (const v of validators) await expect.poll(() => v.view.head?.modelCid, { timeout: 5_000 }).toBe(again.modelCid);
  });

  it("times out cleanly when f + 1 = 2 of 4 validators stay silent, naming them", async () => {
    const { coordinator } = await cluster({
      modelId: "silent",
      byzantine: { "silent-v3": "silent", "silent-v4": "silent" },
      clients: [
        { id: "silent-c1", add: 1, examples: 10 },
        { id: "silent-c2", add: 3, examples: 10 },
      ],
    });
    const outcome = await coordinator.runRound(30_000);
    expect(outcome.type).toBe("fl.CommitTimedOut");
    const timedOut = outcome.data as CommitTimedOut;
    expect(timedOut).toMatchObject({ phase: "prepare", quorum: 3, missing: ["silent-v3", "silent-v4"] });
    expect(timedOut.votes.map((v) => v.validator)).toEqual(expect.arrayContaining(["silent-v1", "silent-v2"]));
    expect(timedOut.reason).toContain("silent-v3, silent-v4");
    expect(timedOut.reason).toContain("2 of 4 validators");
    expect(timedOut.timedOutAt).toBeGreaterThan(timedOut.deadline);
    expect(await countOn("fl.silent.1.outcome")).toBe(1);
    // No model was committed: the chain's head is still the initial model.
    expect(coordinator.view.head?.modelCid).toBe(contentId(modelBytes(initial)));
  });

  it("refuses an update whose stored bytes were replaced after the coordinator proposed: validators vote nil, the round times out saying why", async () => {
    const victim = "tamper-c2";
    const victimCid = contentId(modelBytes(initial.map((w) => w + 2)));
    let armed = false;
    const { coordinator, validators } = await cluster({
      modelId: "tamper",
      clients: [
        { id: "tamper-c1", add: 1, examples: 10 },
        { id: victim, add: 2, examples: 10, inlineMaxBytes: 0 },
      ],
      // After the coordinator read every update and stores its aggregate, someone with write access to the bucket replaces the victim's bytes.
      coordinatorModels: (real) => ({
        get: (cid) => real.get(cid),
        put: async (bytes) => {
          const cid = await real.put(bytes);
          if (armed && cid !== victimCid) {
            armed = false;
            await (await new Objm(nats.nc).open("fl-models")).putBlob({ name: victimCid }, modelBytes(initial.map((w) => w + 200)));
          }
          return cid;
        },
      }),
    });
    const started = await coordinator.startRound();
    armed = true;
    const outcome = await coordinator.waitForOutcome(started.round, 30_000);

    expect(outcome.type).toBe("fl.CommitTimedOut");
    const timedOut = outcome.data as CommitTimedOut;
    expect(timedOut.phase).toBe("prepare");
    expect(timedOut.votes).toHaveLength(4);
    for (const vote of timedOut.votes) {
      expect(vote.modelCid).toBeUndefined();
      expect(vote.reason).toContain(victim);
      expect(vote.reason).toContain("tampered");
    }
    expect(validators.map((v) => v.stats.nil)).toEqual([1, 1, 1, 1]);
  });

  it("leaves out an update whose stored bytes were replaced before aggregation, and commits the rest", async () => {
    const victim = "swap-c2";
    const { coordinator } = await cluster({
      modelId: "swap",
      clients: [
        { id: "swap-c1", add: 1, examples: 10 },
        {
          id: victim,
          add: 2,
          examples: 10,
          inlineMaxBytes: 0,
          // The client stores honest bytes; before its event is even appended, the object under that id is replaced.
          models: (real) => ({
            get: (cid) => real.get(cid),
            put: async (bytes) => {
              const cid = await real.put(bytes);
              await (await new Objm(nats.nc).open("fl-models")).putBlob({ name: cid }, new TextEncoder().encode("not the weights"));
              return cid;
            },
          }),
        },
      ],
    });
    const outcome = await coordinator.runRound(30_000);
    expect(outcome.type).toBe("fl.GlobalModelCommitted");
    const proposal = coordinator.view.rounds.get(1)!.commit!.proposal!;
    expect(proposal.used).toEqual(["swap-c1"]);
    expect(proposal.rejected).toHaveLength(1);
    expect(proposal.rejected[0]!.client).toBe(victim);
    expect(proposal.rejected[0]!.reason).toContain("tampered");
    // The committed model is swap-c1's alone.
    expect((await readModel((outcome.data as GlobalModelCommitted).modelCid))[3]).toBeCloseTo(initial[3]! + 1, 5);
  });

  it("carries the server state from commit to commit (FedAdam moments), each by content id", async () => {
    const { coordinator } = await cluster({
      modelId: "adam",
      strategy: { name: "fedadam", serverLearningRate: 0.1 },
      clients: [
        { id: "adam-c1", add: 0.5, examples: 10 },
        { id: "adam-c2", add: 1.5, examples: 30 },
      ],
    });
    const first = await coordinator.runRound(30_000);
    expect(first.type).toBe("fl.GlobalModelCommitted");
    const committed = first.data as GlobalModelCommitted;
    const state = decodeServerState(await (await ModelStore.open(nats.nc)).get(committed.serverStateCid));
    expect(state.round).toBe(1);
    expect(state.momentum).toHaveLength(initial.length);
    expect(state.momentum![0]).not.toBe(0);

    const next = await coordinator.startRound();
    expect(next.globalModelCid).toBe(committed.modelCid);
    expect(next.serverStateCid).toBe(committed.serverStateCid);
    const second = await coordinator.waitForOutcome(next.round, 30_000);
    expect(second.type).toBe("fl.GlobalModelCommitted");
    expect((second.data as GlobalModelCommitted).serverStateCid).not.toBe(committed.serverStateCid);
  });

  it("rebuilds a restarted validator's view from the stream: it does not vote again in a decided round, and votes in the next", async () => {
    const { coordinator, restartValidator } = await cluster({
      modelId: "restart",
      clients: [{ id: "restart-c1", add: 1, examples: 10 }],
    });
    expect((await coordinator.runRound(30_000)).type).toBe("fl.GlobalModelCommitted");
    const prepares = await countOn("fl.restart.1.prepare");
    const commits = await countOn("fl.restart.1.commit");

    const again = await restartValidator(0);
    await expect.poll(() => again.caughtUp && again.view.rounds.get(1)?.commit?.status, { timeout: 10_000 }).toBe("committed");
    expect(again.view.head?.modelCid).toBe(coordinator.view.head?.modelCid);

    const second = await coordinator.runRound(30_000);
    expect(second.type).toBe("fl.GlobalModelCommitted");
    expect(await countOn("fl.restart.1.prepare")).toBe(prepares);
    expect(await countOn("fl.restart.1.commit")).toBe(commits);
    expect(coordinator.view.rounds.get(2)!.commit!.prepares.map((v) => v.validator)).toContain("restart-v1");
    expect(again.stats.agreed).toBe(1);
  });
});
