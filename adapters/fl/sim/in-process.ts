import { initialServerState, type ClientUpdate, type ServerState } from "../../../domains/fl/aggregate/index.ts";
import { contentId, modelBytes } from "../../../domains/fl/content-id.ts";
import { computeAggregate } from "../../../domains/fl/round/index.ts";
import type { Cohort } from "./cohort.ts";
import type { RoundOutcome, RoundTransport } from "./transport.ts";

/**
 * The in-process transport: the steps of a protocol round without the network — select the
 * round's clients as the round decider does, have each compute its update, aggregate with
 * `computeAggregate` (what the coordinator and every validator run), chain the model. No
 * signing, no JetStream, no BFT vote: the same models and content ids as the JetStream transport
 * for the same settings, faster. Used by experiments whose tables need many runs.
 */
export class InProcessTransport implements RoundTransport {
  readonly kind = "in-process" as const;
  private global: Float32Array;
  private state: ServerState;
  private head: string;

  constructor(
    private readonly cohort: Cohort,
    initial: Float32Array,
    private readonly task = "sim",
  ) {
    this.global = initial;
    this.state = initialServerState(cohort.settings.strategy, initial);
    this.head = contentId(modelBytes(initial));
  }

  get headCid(): string {
    return this.head;
  }

  async runRound(round: number): Promise<RoundOutcome> {
    const { settings } = this.cohort;
    let selected: readonly string[];
    let updates: ClientUpdate[];
    let secure: { readonly threshold: number; readonly survivors: readonly string[] } | undefined;
    if (settings.secagg) {
      const sum = await this.cohort.secureUpdate(this.task, round, this.global, this.state);
      selected = sum.selected;
      updates = [{ client: "secure-sum", ...sum.update }];
      secure = sum;
    } else {
      selected = this.cohort.select(round);
      const local = this.cohort.localRound(round, this.global, this.state, selected.length);
      updates = [];
      for (const id of selected) updates.push({ client: id, ...(await this.cohort.client(id).update(local)) });
    }
    if (updates.length < settings.minUpdates) {
      return { kind: "abandoned", round, reason: `${updates.length} updates, ${settings.minUpdates} needed`, selected, used: [] };
    }
    const computed = computeAggregate({ strategy: settings.strategy, population: settings.secagg ? 1 : this.cohort.size }, this.global, this.state, updates);
    if (!computed.ok) return { kind: "abandoned", round, reason: `the aggregator refused the round: ${computed.reason}`, selected, used: [] };
    const previousModelCid = this.head;
    this.global = computed.model;
    this.state = computed.state;
    this.head = computed.modelCid;
    return {
      kind: "committed",
      round,
      model: computed.model,
      modelCid: computed.modelCid,
      previousModelCid,
      selected,
      used: secure ? secure.survivors : computed.used,
      rejected: computed.rejected,
      commitMs: 0,
      ...(secure ? { secaggThreshold: secure.threshold } : {}),
    };
  }

  async close(): Promise<void> {}
}
