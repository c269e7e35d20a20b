import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { connectNats, serversFromEnv } from "../../../streams/connection.ts";
import { isStrategyName, strategyNames, type StrategyConfig } from "../../../domains/fl/aggregate/index.ts";
import {
  attackNames,
  DEFAULTS,
  meshWorkload,
  mnistWorkload,
  resolveSettings,
  roundJson,
  roundLine,
  runFlSim,
  SimSettingsError,
  summaryJson,
  summaryLines,
  syntheticWorkload,
  type AttackName,
  type SimSettingsInput,
} from "../../fl/sim/index.ts";
import { dataDirFrom, embeddedUrlFile, UsageError } from "../options.ts";
import { flAggregate, flAggregateUsage } from "./fl-aggregate.ts";
import { flEpsilon, flEpsilonUsage } from "./fl-epsilon.ts";

export const flSimUsage = `x0 fl sim [options]
  Simulates federated learning over JetStream: a coordinator, V BFT validators and N clients,
  each its own actor with its own key and NATS connection, talking only through the FL stream
  and the model object store. Uses NATS_URL, else the server of a local \`x0 up\`, else starts an
  embedded nats-server on a temp store (removed at exit). Prints one line per round (accuracy
  and loss of the committed model on the test split, ε with --dp, updates used/rejected, commit
  time) and a summary. Ctrl-C stops cleanly.

  --clients N        clients (N; with --dataset mesh: mesh nodes, one client each) (default ${DEFAULTS.clients})
  --rounds R         rounds (default ${DEFAULTS.rounds})
  --fraction C       fraction of clients selected per round (default ${DEFAULTS.fraction})
  --epochs E         local epochs (default ${DEFAULTS.epochs})
  --batch B          local minibatch size (default ${DEFAULTS.batchSize})
  --lr LR            clients' SGD learning rate (default ${DEFAULTS.learningRate})
  --strategy S       ${strategyNames.join(", ")} (default fedavg)
  --iid              IID split of the training data (the default)
  --shards K         pathological non-IID split: K label-sorted shards per client (mnist)
  --byzantine K      K clients (fixed by --seed) attack every round they are selected in
  --attack A         gaussian: send N(0, σ²) weights (σ = --attack-sigma, default ${DEFAULTS.gaussianSigma});
                     signflip: send global − s·(local − global) (s = --attack-scale, default ${DEFAULTS.signflipScale});
                     labelflip: train on labels l → 9 − l (1 − l on mesh)
  --f N              Byzantine updates a robust aggregator assumes per round (krum, multikrum,
                     bulyan; default: round(K·C), capped to what the rule tolerates for round(C·N)
                     updates; trimmedmean trims max(0.1, f/n) at each end unless --beta)
  --select M         multikrum: updates averaged (default n − f)
  --beta B           trimmedmean: fraction trimmed at each end
  --mu MU            fedprox: proximal term (default ${DEFAULTS.fedproxMu})
  --server-lr ETA    server learning rate (fedadam 0.1, fedyogi 0.01, scaffold 1 by default)
  --dp Z,C           DP-FedAvg: clients clip their delta to L2 norm C and add N(0, (Z·C)²/m)
                     noise each (m = clients selected), so the round's sum carries N(0, (Z·C)²);
                     every client weighs the same; ε by the RDP accountant with q = C, one step
                     per round (fedavg, fedprox, fedadam, fedyogi only)
  --dp-budget E[,D]  stop before a round that would bring ε above E at δ = D (default δ 1e-5)
  --secagg           secure aggregation (Bonawitz et al.) of the round's updates, fedavg only.
                     NOTE: its messages are exchanged IN PROCESS, not over JetStream; the secure
                     sum enters the protocol as one update that the validators commit
  --secagg-threshold T  Shamir threshold (default ⌊n/2⌋ + 1 of the round's n clients)
  --dataset D        mnist (the mnist package's digits, 2NN 784-200-200-10), mesh (link-failure
                     prediction on digital-twin telemetry, MLP 18-32-2) or synthetic (Gaussian
                     blobs, 40 examples per client, MLP 8-16-4: a quick smoke run) (default mnist)
  --train N, --test N  mnist examples for training (shared out) and testing (default 8000, 2000)
  --hidden H1,H2     hidden layer sizes (default 200,200 for mnist, 32 for mesh, 16 for synthetic)
  --validators V     BFT validators, f = ⌊(V − 1)/3⌋ tolerated (default ${DEFAULTS.validators})
  --faulty-validators K  the last K validators misbehave (--validator-fault wrong-cid: vote for a
                     made-up model, the default; silent: never vote); K > f makes rounds time out
  --min-updates N    fewest updates a round aggregates (default ${DEFAULTS.minUpdates})
  --round-timeout S  seconds a round accepts updates (default ${DEFAULTS.roundTimeoutMs / 1000})
  --phase-timeout S  seconds each commit phase waits for votes (default ${DEFAULTS.phaseTimeoutMs / 1000})
  --seed S           seeds the split, the model, selection, attackers and noise (default ${DEFAULTS.seed})
  --in-process       run the same round steps in this process, without NATS (no signing, no vote)
  --model-id ID      FL model id of the run (default sim-<time>)
  --data-dir DIR     where to find a local x0 up's server (default ./.x0)
  --json             one JSON object per round and a summary object on stdout`;

export const flUsage = `x0 fl <sim|aggregate|epsilon> [options]

${flSimUsage}

${flAggregateUsage}

${flEpsilonUsage}`;

const DECIMAL = /^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

const num = (name: string, value: string | undefined): number | undefined => {
  if (value === undefined) return undefined;
  if (!DECIMAL.test(value.trim())) throw new UsageError(`--${name} must be a number, got "${value}"`);
  return Number(value);
};

const int = (name: string, value: string | undefined): number | undefined => {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value.trim())) throw new UsageError(`--${name} must be a non-negative integer, got "${value}"`);
  return Number(value);
};

const numbers = (name: string, value: string, count: [number, number]): number[] => {
  const parts = value.split(",").map((p) => p.trim());
  if (parts.length < count[0] || parts.length > count[1]) throw new UsageError(`--${name} takes ${count[0] === count[1] ? count[0] : `${count[0]} or ${count[1]}`} comma-separated numbers, got "${value}"`);
  return parts.map((p) => num(name, p)!);
};

const validatorFault = (value: string | undefined): "wrong-cid" | "silent" => {
  if (value === undefined || value === "wrong-cid" || value === "silent") return value ?? "wrong-cid";
  throw new UsageError(`--validator-fault must be wrong-cid or silent, got "${value}"`);
};

/** NATS_URL; else a local `x0 up`'s server if it answers; else undefined (an embedded server is started). */
const findServers = async (dataDir: string): Promise<string[] | undefined> => {
  const fromEnv = serversFromEnv();
  if (fromEnv) return fromEnv;
  const url = (await readFile(embeddedUrlFile(dataDir), "utf8").catch(() => "")).trim();
  if (!url) return undefined;
  try {
    const nc = await Promise.race([
      connectNats({ servers: url, name: "x0-fl-probe" }),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timeout")), 2_000).unref()),
    ]);
    await nc.close();
    return [url];
  } catch {
    return undefined; // a stale nats.url of an x0 up that is not running
  }
};

/** `x0 fl sim`. */
export const flSim = async (argv: string[], io: { readonly stdout?: { write(text: string): unknown }; readonly stderr?: { write(text: string): unknown } } = {}): Promise<number> => {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      clients: { type: "string" },
      rounds: { type: "string" },
      fraction: { type: "string" },
      epochs: { type: "string" },
      batch: { type: "string" },
      lr: { type: "string" },
      strategy: { type: "string" },
      iid: { type: "boolean" },
      shards: { type: "string" },
      byzantine: { type: "string" },
      attack: { type: "string" },
      "attack-sigma": { type: "string" },
      "attack-scale": { type: "string" },
      f: { type: "string" },
      select: { type: "string" },
      beta: { type: "string" },
      mu: { type: "string" },
      "server-lr": { type: "string" },
      dp: { type: "string" },
      "dp-budget": { type: "string" },
      secagg: { type: "boolean" },
      "secagg-threshold": { type: "string" },
      dataset: { type: "string" },
      train: { type: "string" },
      test: { type: "string" },
      hidden: { type: "string" },
      validators: { type: "string" },
      "faulty-validators": { type: "string" },
      "validator-fault": { type: "string" },
      "min-updates": { type: "string" },
      "round-timeout": { type: "string" },
      "phase-timeout": { type: "string" },
      seed: { type: "string" },
      "in-process": { type: "boolean" },
      "model-id": { type: "string" },
      "data-dir": { type: "string" },
      json: { type: "boolean" },
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const name = values.strategy ?? "fedavg";
  if (!isStrategyName(name)) throw new UsageError(`--strategy must be one of ${strategyNames.join(", ")}, got "${name}"`);
  if (values.iid && values.shards !== undefined) throw new UsageError("give --iid or --shards, not both");
  const dataset = values.dataset ?? "mnist";
  if (dataset !== "mnist" && dataset !== "mesh" && dataset !== "synthetic") throw new UsageError(`--dataset must be mnist, mesh or synthetic, got "${dataset}"`);
  if (dataset !== "mnist" && values.shards !== undefined) throw new UsageError(`--shards applies to mnist; the ${dataset} data is split ${dataset === "mesh" ? "by node" : "IID"}`);
  if (dataset !== "mnist" && (values.train !== undefined || values.test !== undefined)) throw new UsageError("--train and --test size the mnist split");
  if ((values.byzantine === undefined) !== (values.attack === undefined)) throw new UsageError("--byzantine K and --attack A go together");
  if (values.attack !== undefined && !attackNames.includes(values.attack as AttackName)) throw new UsageError(`--attack must be one of ${attackNames.join(", ")}, got "${values.attack}"`);
  const modelId = values["model-id"];
  if (modelId !== undefined && !/^[A-Za-z0-9_-]{1,40}$/u.test(modelId)) throw new UsageError(`--model-id must be 1-40 of A-Z a-z 0-9 _ -, got "${modelId}"`);

  const strategy: StrategyConfig = {
    name,
    ...(values.f !== undefined ? { f: int("f", values.f)! } : {}),
    ...(values.select !== undefined ? { select: int("select", values.select)! } : {}),
    ...(values.beta !== undefined ? { beta: num("beta", values.beta)! } : {}),
    ...(values.mu !== undefined ? { mu: num("mu", values.mu)! } : {}),
    ...(values["server-lr"] !== undefined ? { serverLearningRate: num("server-lr", values["server-lr"])! } : {}),
  };
  const budget = values["dp-budget"] !== undefined ? numbers("dp-budget", values["dp-budget"], [1, 2]) : undefined;
  if (budget && values.dp === undefined) throw new UsageError("--dp-budget needs --dp");
  const dp = values.dp !== undefined ? numbers("dp", values.dp, [2, 2]) : undefined;
  const input: SimSettingsInput = {
    ...(values.clients !== undefined ? { clients: int("clients", values.clients)! } : {}),
    ...(values.rounds !== undefined ? { rounds: int("rounds", values.rounds)! } : {}),
    ...(values.fraction !== undefined ? { fraction: num("fraction", values.fraction)! } : {}),
    ...(values.epochs !== undefined ? { epochs: int("epochs", values.epochs)! } : {}),
    ...(values.batch !== undefined ? { batchSize: int("batch", values.batch)! } : {}),
    ...(values.lr !== undefined ? { learningRate: num("lr", values.lr)! } : {}),
    strategy,
    partition: values.shards !== undefined ? { kind: "shards", shardsPerClient: int("shards", values.shards)! } : { kind: "iid" },
    ...(values.byzantine !== undefined
      ? {
          byzantine: {
            count: int("byzantine", values.byzantine)!,
            attack: values.attack as AttackName,
            ...(values["attack-sigma"] !== undefined ? { sigma: num("attack-sigma", values["attack-sigma"])! } : {}),
            ...(values["attack-scale"] !== undefined ? { scale: num("attack-scale", values["attack-scale"])! } : {}),
          },
        }
      : {}),
    ...(dp
      ? { dp: { noiseMultiplier: dp[0]!, clipNorm: dp[1]!, ...(budget ? { epsilonBudget: budget[0]!, ...(budget[1] !== undefined ? { delta: budget[1] } : {}) } : {}) } }
      : {}),
    ...(values.secagg ? { secagg: values["secagg-threshold"] !== undefined ? { threshold: int("secagg-threshold", values["secagg-threshold"])! } : true } : {}),
    ...(values.validators !== undefined ? { validators: int("validators", values.validators)! } : {}),
    ...(values["faulty-validators"] !== undefined
      ? { faultyValidators: { count: int("faulty-validators", values["faulty-validators"])!, behaviour: validatorFault(values["validator-fault"]) } }
      : {}),
    ...(values["min-updates"] !== undefined ? { minUpdates: int("min-updates", values["min-updates"])! } : {}),
    ...(values["round-timeout"] !== undefined ? { roundTimeoutMs: 1000 * num("round-timeout", values["round-timeout"])! } : {}),
    ...(values["phase-timeout"] !== undefined ? { phaseTimeoutMs: 1000 * num("phase-timeout", values["phase-timeout"])! } : {}),
    ...(values.seed !== undefined ? { seed: int("seed", values.seed)! } : {}),
    transport: values["in-process"] ? "in-process" : "jetstream",
  };
  if (values["secagg-threshold"] !== undefined && !values.secagg) throw new UsageError("--secagg-threshold needs --secagg");
  let settings;
  try {
    settings = resolveSettings(input);
  } catch (error) {
    if (error instanceof SimSettingsError) throw new UsageError(error.message);
    throw error;
  }
  const hidden = values.hidden !== undefined ? numbers("hidden", values.hidden, [1, 8]).map((h) => int("hidden", String(h))!) : undefined;
  const workload =
    dataset === "mnist"
      ? mnistWorkload(settings, {
          ...(values.train !== undefined ? { train: int("train", values.train)! } : {}),
          ...(values.test !== undefined ? { test: int("test", values.test)! } : {}),
          ...(hidden ? { hidden } : {}),
        })
      : dataset === "mesh"
        ? meshWorkload(settings, hidden ? { hidden } : {})
        : syntheticWorkload({ clients: settings.clients, seed: settings.seed, ...(hidden ? { hidden } : {}) });
  if (workload.clients.length !== settings.clients) settings = { ...settings, clients: workload.clients.length };

  const servers = settings.transport === "jetstream" ? await findServers(dataDirFrom(values["data-dir"])) : undefined;
  const controller = new AbortController();
  const interrupt = () => {
    if (controller.signal.aborted) process.exit(130); // a second Ctrl-C: do not wait
    stderr.write("stopping: closing the actors (Ctrl-C again to quit at once)\n");
    controller.abort();
  };
  process.on("SIGINT", interrupt);
  process.on("SIGTERM", interrupt);
  const say = (line: string) => stderr.write(`${line}\n`);
  try {
    const summary = await runFlSim(settings, workload, {
      ...(servers ? { servers } : {}),
      ...(modelId ? { modelId } : {}),
      signal: controller.signal,
      onInfo: say,
      onWarn: (message, fields) => say(`warning: ${message}${fields ? ` ${JSON.stringify(fields)}` : ""}`),
      onRound: (report) => stdout.write(`${values.json ? roundJson(report) : roundLine(report, settings.rounds)}\n`),
    });
    if (values.json) stdout.write(`${summaryJson(summary)}\n`);
    else stdout.write(`${summaryLines(summary).join("\n")}\n`);
    if (controller.signal.aborted) return 130;
    return summary.roundsRun > 0 && summary.committed === 0 ? 1 : 0;
  } finally {
    process.off("SIGINT", interrupt);
    process.off("SIGTERM", interrupt);
  }
};

/** `x0 fl <sim|aggregate|epsilon>`. */
export const fl = async (argv: string[]): Promise<number> => {
  const [sub, ...rest] = argv;
  switch (sub) {
    case "sim":
      return flSim(rest);
    case "aggregate":
      return flAggregate(rest);
    case "epsilon":
      return flEpsilon(rest);
    default:
      throw new UsageError(sub === undefined ? "give a subcommand: sim, aggregate or epsilon" : `unknown subcommand "${sub}" (sim, aggregate, epsilon)`);
  }
};
