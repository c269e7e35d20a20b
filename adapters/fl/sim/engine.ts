import { checkRoundBudget, RdpAccountant, recordRound, type DpFedAvgConfig } from "../../../domains/fl/privacy/index.ts";
import { evaluate, initialWeights, initTraining } from "../training/index.ts";
import { Cohort } from "./cohort.ts";
import { InProcessTransport } from "./in-process.ts";
import { JetStreamTransport } from "./jetstream.ts";
import type { SimSettings } from "./settings.ts";
import { RoundStuckError, SimStoppedError, type RoundTransport } from "./transport.ts";
import type { Workload } from "./workload.ts";

/** One round as the simulation reports it (a progress line, a JSON line). */
export interface RoundReport {
  readonly round: number;
  readonly outcome: "committed" | "timed-out" | "abandoned";
  /** On the test split, of the model committed this round. */
  readonly accuracy?: number;
  readonly loss?: number;
  /** ε spent after this round at the settings' δ (with --dp). */
  readonly epsilon?: number;
  readonly selected: number;
  readonly used: number;
  readonly rejected: number;
  /** Why some updates were left out (first few), or why the round did not commit. */
  readonly reasons: readonly string[];
  /** From the proposal to the commit, ms (0 in process). */
  readonly commitMs: number;
  /** The whole round, ms: training, aggregation, the vote, evaluation. */
  readonly roundMs: number;
  readonly modelCid?: string;
  /** The secure sum's clients and threshold (with --secagg). */
  readonly secagg?: { readonly clients: number; readonly threshold: number };
  /** With Byzantine clients: how many the round selected, and how many of those the aggregate used. */
  readonly attackers?: { readonly selected: number; readonly used: number };
}

export interface SimSummary {
  readonly transport: RoundTransport["kind"];
  readonly roundsAsked: number;
  readonly roundsRun: number;
  readonly committed: number;
  readonly timedOut: number;
  readonly abandoned: number;
  /** Of the last committed model (the initial model's if none committed). */
  readonly finalAccuracy: number;
  readonly finalLoss: number;
  readonly bestAccuracy: number;
  /** 0: the initial model. */
  readonly bestRound: number;
  readonly initialAccuracy: number;
  readonly epsilon?: number;
  readonly delta?: number;
  readonly totalMs: number;
  /** Content id of the chain's head: the last committed model. */
  readonly headCid: string;
  /** Why the run ended before its rounds: the privacy budget, Ctrl-C, a round that never ended. */
  readonly stoppedEarly?: string;
  readonly history: readonly RoundReport[];
  /** The last committed model's weights. */
  readonly model: Float32Array;
}

export interface RunOptions {
  /** JetStream transport: the servers (absent: an embedded nats-server) and the run's model id. */
  readonly servers?: readonly string[];
  readonly modelId?: string;
  /** Stops the run between rounds (or aborts the round under way on the JetStream transport). */
  readonly signal?: AbortSignal;
  readonly onRound?: (report: RoundReport) => void;
  /** Status lines (starting, the data, the transport). */
  readonly onInfo?: (line: string) => void;
  /** The actors' warnings. */
  readonly onWarn?: (message: string, fields?: Record<string, unknown>) => void;
}

/** The DP-FedAvg mechanism of a run, as the accountant charges it. */
export const dpConfig = (settings: SimSettings, population: number, noiseMultiplier = settings.dp!.noiseMultiplier): DpFedAvgConfig => ({
  noiseMultiplier,
  sampleRate: settings.fraction,
  population,
  clipping: { kind: "fixed", clipNorm: settings.dp!.clipNorm },
});

/**
 * Runs a federated-learning simulation: R rounds of the settings' strategy over the workload's
 * clients, through the JetStream protocol or in process, evaluating every committed model on the
 * test split and, with DP, accounting ε round by round (a round that would exceed the budget
 * does not start).
 *
 * DP accounting: each round is one step of the subsampled Gaussian mechanism with q = C. The
 * noise in a round's sum comes from the honest clients whose updates are in it (each adds
 * 1/m of the variance, m = clients selected), so a round with h of m such clients is charged
 * with the noise multiplier z·√(h/m): the full z when every selected client took part honestly,
 * more ε when some dropped out or attacked.
 */
export const runFlSim = async (settings: SimSettings, workload: Workload, options: RunOptions = {}): Promise<SimSummary> => {
  const started = performance.now();
  const info = options.onInfo ?? (() => undefined);
  const backend = await initTraining();
  const modelId = options.modelId ?? `sim-${Date.now().toString(36)}`;
  const cohort = new Cohort(settings, workload, settings.transport === "jetstream" ? `${modelId}-` : "");
  const initial = initialWeights(workload.spec, settings.seed);
  info(`${workload.description}; tfjs backend ${backend}`);
  if (cohort.attackers.size > 0) info(`Byzantine clients (${settings.byzantine!.attack}): ${[...cohort.attackers].join(", ")}`);

  const evaluated = await evaluate(workload.spec, initial, workload.test);
  let model = initial;
  let final = evaluated;
  let best = { accuracy: evaluated.accuracy, round: 0 };
  const accountant = settings.dp ? new RdpAccountant() : undefined;
  const history: RoundReport[] = [];
  let stoppedEarly: string | undefined;
  let epsilon: number | undefined = settings.dp ? 0 : undefined;

  let transport: RoundTransport | undefined;
  const onAbort = () => void transport?.close();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    if (options.signal?.aborted) throw new SimStoppedError("stopped before the first round");
    transport =
      settings.transport === "jetstream"
        ? await JetStreamTransport.start(cohort, initial, {
            ...(options.servers ? { servers: options.servers } : {}),
            modelId,
            ...(options.onWarn ? { warn: options.onWarn } : {}),
          })
        : new InProcessTransport(cohort, initial, modelId);
    if (transport instanceof JetStreamTransport) {
      const faulty = settings.faultyValidators ? `, ${settings.faultyValidators.count} of them ${settings.faultyValidators.behaviour}` : "";
      info(`JetStream: ${transport.url} (${options.servers ? "existing server" : "embedded nats-server, temp store"}), model ${modelId}, ${settings.validators} validators (f = ${Math.floor((settings.validators - 1) / 3)}${faulty}), ${settings.secagg ? "1 secure aggregator" : `${cohort.size} client actors`}`);
    }
    if (options.signal?.aborted) throw new SimStoppedError("stopped while starting");

    for (let round = 1; round <= settings.rounds; round++) {
      if (options.signal?.aborted) {
        stoppedEarly = "stopped (Ctrl-C)";
        break;
      }
      if (accountant && settings.dp?.epsilonBudget !== undefined) {
        const check = checkRoundBudget(dpConfig(settings, cohort.size), accountant, { epsilon: settings.dp.epsilonBudget, delta: settings.dp.delta });
        if (!check.ok) {
          stoppedEarly = `privacy budget: round ${round} not started, ${check.refused}`;
          break;
        }
      }
      const t = performance.now();
      let outcome;
      try {
        outcome = await transport.runRound(round);
      } catch (error) {
        if (!(error instanceof RoundStuckError)) throw error;
        options.onWarn?.(error.message);
        stoppedEarly = error.message;
        break;
      }
      const honest = outcome.used.filter((c) => !cohort.attackers.has(c)).length;
      const attackers =
        cohort.attackers.size > 0
          ? { selected: outcome.selected.filter((c) => cohort.attackers.has(c)).length, used: outcome.used.length - honest }
          : undefined;
      if (accountant && honest > 0) {
        const z = settings.dp!.noiseMultiplier * Math.sqrt(Math.min(1, honest / Math.max(1, outcome.selected.length)));
        epsilon = recordRound(dpConfig(settings, cohort.size, z), accountant, settings.dp!.delta).epsilon;
      }
      let report: RoundReport;
      if (outcome.kind === "committed") {
        model = outcome.model;
        final = await evaluate(workload.spec, model, workload.test);
        if (final.accuracy > best.accuracy) best = { accuracy: final.accuracy, round: outcome.round };
        report = {
          round: outcome.round,
          outcome: "committed",
          accuracy: final.accuracy,
          loss: final.loss,
          ...(epsilon !== undefined ? { epsilon } : {}),
          selected: outcome.selected.length,
          used: outcome.used.length,
          rejected: outcome.rejected.length,
          reasons: outcome.rejected.slice(0, 3).map((r) => `${r.client}: ${r.reason}`),
          commitMs: outcome.commitMs,
          roundMs: performance.now() - t,
          modelCid: outcome.modelCid,
          ...(outcome.secaggThreshold !== undefined ? { secagg: { clients: outcome.used.length, threshold: outcome.secaggThreshold } } : {}),
          ...(attackers ? { attackers } : {}),
        };
      } else {
        report = {
          round: outcome.round,
          outcome: outcome.kind,
          ...(epsilon !== undefined ? { epsilon } : {}),
          selected: outcome.selected.length,
          used: outcome.used.length,
          rejected: 0,
          reasons: [outcome.reason],
          commitMs: 0,
          roundMs: performance.now() - t,
          ...(attackers ? { attackers } : {}),
        };
      }
      history.push(report);
      options.onRound?.(report);
    }
  } catch (error) {
    if (!(error instanceof SimStoppedError) && !options.signal?.aborted) throw error;
    stoppedEarly = "stopped (Ctrl-C)";
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    await transport?.close();
  }

  const count = (kind: RoundReport["outcome"]) => history.filter((r) => r.outcome === kind).length;
  return {
    transport: settings.transport,
    roundsAsked: settings.rounds,
    roundsRun: history.length,
    committed: count("committed"),
    timedOut: count("timed-out"),
    abandoned: count("abandoned"),
    finalAccuracy: final.accuracy,
    finalLoss: final.loss,
    bestAccuracy: best.accuracy,
    bestRound: best.round,
    initialAccuracy: evaluated.accuracy,
    ...(epsilon !== undefined ? { epsilon, delta: settings.dp!.delta } : {}),
    totalMs: performance.now() - started,
    headCid: [...history].reverse().find((r) => r.modelCid)?.modelCid ?? transport?.headCid ?? "",
    ...(stoppedEarly ? { stoppedEarly } : {}),
    history,
    model,
  };
};
