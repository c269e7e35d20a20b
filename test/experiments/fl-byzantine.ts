/**
 * Byzantine clients against every aggregator: MNIST, 100 clients of which 20 % attack (the same
 * 20 every round, chosen by the seed), C = 0.2 (20 updates a round, ~4 of them attackers, so
 * Bulyan's n >= 4f + 3 holds with f = 4), E = 1, B = 10, the 2NN, IID. For each aggregator: the
 * final accuracy without attack and under each attack —
 *   gaussian   an attacker sends weights drawn from N(0, σ²), σ = 1;
 *   signflip   it trains, then sends global − 4·(local − global);
 *   labelflip  it trains on labels l → 9 − l.
 * Robust rules assume f = round(K·C) = 4 Byzantine updates per round (trimmed mean trims 20 % at
 * each end); the actual count in a round varies around 4 (a hypergeometric draw).
 *
 *   npm run experiment:fl-byzantine -- [--rounds 20] [--lr 0.1] [--seed 1] [--jetstream]
 *       [--strategies fedavg,median,multikrum:f=8,...] [--attacks none,gaussian,...]
 *
 * A strategy may carry an explicit f (`multikrum:f=8`): the default list adds Multi-Krum with
 * f = 8, the most it tolerates with 20 updates, because a round can hold more than 4 attackers
 * and Multi-Krum then averages at least one of them in (it keeps n − f).
 *
 * The table has 40 runs, so it runs by default on the simulation engine's in-process transport:
 * the round steps of `x0 fl sim` (selection, local steps, attacks, the aggregator the validators
 * recompute) without NATS; --jetstream runs every cell through the full protocol (much slower).
 * Progress on stderr; a markdown table on stdout; last line
 * `fedavg_no_attack=… fedavg_worst=… robust_worst=… robust_max_drop_points=… rounds=…`.
 */
import { parseArgs } from "node:util";
import { isStrategyName, strategyNames, type StrategyConfig, type StrategyName } from "../../domains/fl/aggregate/index.ts";
import { mnistWorkload, resolveSettings, runFlSim, type AttackName } from "../../adapters/fl/sim/index.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "20" },
    lr: { type: "string", default: "0.1" },
    seed: { type: "string", default: "1" },
    jetstream: { type: "boolean", default: false },
    strategies: { type: "string", default: [...strategyNames, "multikrum:f=8"].join(",") },
    attacks: { type: "string", default: "none,gaussian,signflip,labelflip" },
  },
});
const rounds = Number(values.rounds);
const seed = Number(values.seed);
/** `name` or `name:f=N`: the row's label and its strategy. */
const strategies = values.strategies.split(",");
const strategyOf = (label: string): StrategyConfig => {
  const [name, option] = label.split(":");
  if (!name || !isStrategyName(name)) throw new Error(`unknown strategy ${label}`);
  const f = option?.match(/^f=(\d+)$/)?.[1];
  if (option !== undefined && f === undefined) throw new Error(`strategy option must be f=N, got ${option}`);
  return { name, ...(f !== undefined ? { f: Number(f) } : {}) };
};
const attacks = values.attacks.split(",") as ("none" | AttackName)[];
const robustRules: readonly StrategyName[] = ["krum", "multikrum", "median", "trimmedmean", "bulyan"];
const isRobust = (label: string) => robustRules.includes(strategyOf(label).name);
const say = (line: string) => process.stderr.write(`${line}\n`);

const results = new Map<string, { accuracy: number; committed: number; minutes: number }>();
const t0 = performance.now();
let done = 0;
for (const attack of attacks) {
  for (const name of strategies) {
    const settings = resolveSettings({
      clients: 100,
      rounds,
      fraction: 0.2,
      epochs: 1,
      batchSize: 10,
      learningRate: Number(values.lr),
      strategy: strategyOf(name),
      partition: { kind: "iid" },
      // The same 20 clients are the attackers whether they attack or not: without attack the robust rules still assume f = 4.
      byzantine: { count: 20, attack: attack === "none" ? "gaussian" : attack },
      seed,
      transport: values.jetstream ? "jetstream" : "in-process",
    });
    const { byzantine: _unused, ...clean } = settings;
    const run = attack === "none" ? clean : settings;
    const t = performance.now();
    const summary = await runFlSim(run, mnistWorkload(run), {
      modelId: `byz-${name.replace(/[^a-z0-9]+/g, "")}-${attack}-${Date.now().toString(36)}`,
      onWarn: (m, fields) => say(`warning: ${m}${fields ? ` ${JSON.stringify(fields)}` : ""}`),
    });
    done++;
    const minutes = (performance.now() - t) / 60_000;
    results.set(`${name}/${attack}`, { accuracy: summary.finalAccuracy, committed: summary.committed, minutes });
    const note = summary.committed < rounds ? ` (${summary.committed}/${summary.roundsRun} rounds committed)` : "";
    say(
      `[${done}/${attacks.length * strategies.length}] ${name.padEnd(11)} ${attack.padEnd(9)} f=${run.strategy.f ?? "-"} beta=${run.strategy.beta ?? "-"}: final accuracy ${(100 * summary.finalAccuracy).toFixed(2)} %${note}  (${minutes.toFixed(1)} min, ${((performance.now() - t0) / 60_000).toFixed(1)} min so far)`,
    );
  }
}

const cell = (name: string, attack: string) => {
  const r = results.get(`${name}/${attack}`);
  if (!r) return "–";
  return `${(100 * r.accuracy).toFixed(2)}${r.committed < rounds ? ` (${r.committed} rounds)` : ""}`;
};
const accuracy = (name: string, attack: string) => results.get(`${name}/${attack}`)?.accuracy;
const attacked = attacks.filter((a) => a !== "none");
const worstOf = (name: string) => Math.min(...attacked.map((a) => accuracy(name, a) ?? Infinity));
const fedavgClean = accuracy("fedavg", "none");

const lines = [
  `MNIST 2NN, 100 clients (20 Byzantine), C = 0.2, E = 1, B = 10, lr ${values.lr}, IID, ${rounds} rounds, ${values.jetstream ? "JetStream protocol" : "in-process transport"}; final test accuracy (%)`,
  "",
  `| aggregator | no attack | ${attacked.join(" | ")} | worst drop vs own no-attack (points) |`,
  `|---|---:|${attacked.map(() => "---:|").join("")}---:|`,
  ...strategies.map((name) => {
    const clean = accuracy(name, "none");
    const drop = clean !== undefined && attacked.length > 0 ? (100 * (clean - worstOf(name))).toFixed(2) : "–";
    return `| ${name}${isRobust(name) ? " (robust)" : ""} | ${cell(name, "none")} | ${attacked.map((a) => cell(name, a)).join(" | ")} | ${drop} |`;
  }),
];
const robustRun = strategies.filter(isRobust);
const robustWorst = robustRun.length > 0 ? Math.min(...robustRun.map(worstOf)) : Number.NaN;
if (fedavgClean !== undefined && robustRun.length > 0) {
  lines.push(
    "",
    `Worst robust accuracy under attack ${(100 * robustWorst).toFixed(2)} % vs FedAvg without attack ${(100 * fedavgClean).toFixed(2)} %: ${(100 * (fedavgClean - robustWorst)).toFixed(2)} points (Done-when: within 5); FedAvg's worst under attack ${(100 * worstOf("fedavg")).toFixed(2)} %.`,
  );
}
process.stdout.write(`${lines.join("\n")}\n`);
say(`total ${((performance.now() - t0) / 60_000).toFixed(1)} min`);
const drops = robustRun.map((name) => (accuracy(name, "none") ?? Number.NaN) - worstOf(name));
process.stdout.write(
  `fedavg_no_attack=${fedavgClean?.toFixed(4) ?? "–"} fedavg_worst=${strategies.includes("fedavg") ? worstOf("fedavg").toFixed(4) : "–"} robust_worst=${robustWorst.toFixed(4)} robust_max_drop_points=${(100 * Math.max(...drops)).toFixed(2)} robust_gap_to_fedavg_points=${fedavgClean !== undefined ? (100 * (fedavgClean - robustWorst)).toFixed(2) : "–"} rounds=${rounds} transport=${values.jetstream ? "jetstream" : "in-process"}\n`,
);
