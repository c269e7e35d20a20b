import type { ServerState } from "../../../domains/fl/aggregate/index.ts";
import { selectClients } from "../../../domains/fl/round/index.ts";
import { Rng } from "../../../domains/kernel/rng.ts";
import { chooseAttackers, clientId, SimClient, type LocalRound, type LocalUpdate } from "./local.ts";
import { secureFedAvg, type SecureSum } from "./secure.ts";
import { clientsPerRound, type SimSettings } from "./settings.ts";
import type { Workload } from "./workload.ts";

/**
 * The simulation's clients, whichever transport carries their rounds: who they are, which of
 * them attack, and the steps a round asks of them. Both transports select a round's clients as
 * the protocol's round decider does (`selectClients` with the Rng of (seed, round) over the
 * sorted ids), so the same settings give the same rounds, bit for bit, in either.
 */
export class Cohort {
  readonly clients: readonly SimClient[];
  readonly ids: readonly string[];
  readonly attackers: ReadonlySet<string>;
  /** The most examples any client holds: the public bound on a secure-aggregation weight. */
  readonly weightBound: number;

  constructor(
    readonly settings: SimSettings,
    readonly workload: Workload,
    /** Prefix of every client id (a run's tag on a shared server, where ids must be new). */
    readonly prefix = "",
  ) {
    const n = workload.clients.length;
    const attacking = new Set(settings.byzantine ? chooseAttackers(n, Math.min(settings.byzantine.count, n), settings.seed) : []);
    this.clients = workload.clients.map(
      (data, i) =>
        new SimClient(i, clientId(prefix, i, n), data, {
          spec: workload.spec,
          seed: settings.seed,
          ...(attacking.has(i) && settings.byzantine ? { attack: settings.byzantine } : {}),
          ...(settings.dp ? { dp: settings.dp } : {}),
        }),
    );
    this.ids = this.clients.map((c) => c.id);
    this.attackers = new Set(this.clients.filter((c) => c.attack !== undefined).map((c) => c.id));
    this.weightBound = Math.max(1, ...workload.clients.map((d) => d.labels.length));
  }

  get size(): number {
    return this.clients.length;
  }

  /** Clients selected per round. */
  get perRound(): number {
    return clientsPerRound(this.size, this.settings.fraction);
  }

  /** The round's clients, as the protocol's round decider draws them. */
  select(round: number): string[] {
    return selectClients(this.ids, this.perRound, new Rng(this.settings.seed, round));
  }

  client(id: string): SimClient {
    const client = this.clients.find((c) => c.id === id);
    if (!client) throw new RangeError(`no client ${id} in this simulation`);
    return client;
  }

  /** What a round tells its clients. */
  localRound(round: number, global: Float32Array, serverState: ServerState, selected: number): LocalRound {
    const { strategy, epochs, batchSize, learningRate } = this.settings;
    return { round, strategy, training: { epochs, batchSize, learningRate }, selected, global, serverState };
  }

  /**
   * A secure-aggregation round (IN PROCESS, see secure.ts): selects the round's clients, has
   * each train, and sums their updates through domains/fl/secagg.
   */
  async secureUpdate(task: string, round: number, global: Float32Array, serverState: ServerState): Promise<SecureSum & { readonly selected: readonly string[] }> {
    const selected = this.select(round);
    const local = this.localRound(round, global, serverState, selected.length);
    const inputs: { client: string; update: LocalUpdate }[] = [];
    for (const id of selected) inputs.push({ client: id, update: await this.client(id).update(local) });
    const secagg = this.settings.secagg!;
    const sum = secureFedAvg({ task, round }, global, inputs, {
      clamp: secagg.clamp,
      weightBound: this.weightBound,
      ...(secagg.threshold !== undefined ? { threshold: secagg.threshold } : {}),
    });
    return { ...sum, selected };
  }
}
