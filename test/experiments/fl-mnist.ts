/**
 * FedAvg on MNIST as McMahan et al. 2017 set it up, at the size of the `mnist` package: 100
 * clients, C = 0.1, E = 1, B = 10, the 2NN (784-200-200-10), IID and pathological non-IID (2
 * label-sorted shards per client), against centralized training of the same model on the same
 * training split (test/experiments/fl-centralized.ts, run as it is, its last line read).
 *
 *   npm run experiment:fl-mnist -- [--rounds 200] [--lr 0.1] [--seed 1] [--centralized-epochs 20]
 *       [--in-process] [--skip-noniid] [--every 10]
 *
 * The federated runs go through `x0 fl sim`'s engine over JetStream (an embedded nats-server,
 * every client, the coordinator and 4 BFT validators as separate actors), or with --in-process
 * through the same steps without the network (the same models, bit for bit, faster).
 * Progress on stderr; a markdown table on stdout; last line
 * `iid_accuracy=… noniid_accuracy=… centralized_accuracy=… iid_gap_points=… rounds=…`.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { mnistWorkload, resolveSettings, roundLine, runFlSim, type SimSummary } from "../../adapters/fl/sim/index.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "200" },
    lr: { type: "string", default: "0.1" },
    seed: { type: "string", default: "1" },
    "centralized-epochs": { type: "string", default: "20" },
    "in-process": { type: "boolean", default: false },
    "skip-noniid": { type: "boolean", default: false },
    every: { type: "string", default: "10" },
  },
});
const rounds = Number(values.rounds);
const learningRate = Number(values.lr);
const seed = Number(values.seed);
const every = Number(values.every);
const say = (line: string) => process.stderr.write(`${line}\n`);

/** Runs the training engineer's centralized baseline script on the same split and reads its result. */
const centralized = (epochs: number): Promise<number> =>
  new Promise((resolve, reject) => {
    const script = fileURLToPath(new URL("./fl-centralized.ts", import.meta.url));
    const runner = fileURLToPath(new URL("../../adapters/cli/run-ts.js", import.meta.url));
    const child = spawn(process.execPath, [runner, script, "--epochs", String(epochs), "--lr", String(learningRate), "--batch", "10", "--seed", String(seed)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let last = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      for (const line of chunk.split("\n").filter((l) => l.length > 0)) {
        say(`centralized: ${line}`);
        last = line;
      }
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      const match = /centralized_accuracy=([\d.]+)/.exec(last);
      if (code === 0 && match) resolve(Number(match[1]));
      else reject(new Error(`fl-centralized.ts exited with ${code}: ${last}`));
    });
  });

const federated = async (label: string, partition: { kind: "iid" } | { kind: "shards"; shardsPerClient: number }): Promise<SimSummary> => {
  const settings = resolveSettings({
    clients: 100,
    rounds,
    fraction: 0.1,
    epochs: 1,
    batchSize: 10,
    learningRate,
    strategy: "fedavg",
    partition,
    seed,
    transport: values["in-process"] ? "in-process" : "jetstream",
  });
  say(`== FedAvg ${label}: ${rounds} rounds, ${settings.transport}`);
  return runFlSim(settings, mnistWorkload(settings), {
    modelId: `mnist-${label.toLowerCase().replace(/[^a-z0-9]+/g, "")}-${Date.now().toString(36)}`,
    onInfo: say,
    onWarn: (m, fields) => say(`warning: ${m}${fields ? ` ${JSON.stringify(fields)}` : ""}`),
    onRound: (r) => say(`${label}: ${roundLine(r, rounds)}`),
  });
};

const t0 = performance.now();
say(`== centralized: 2NN, ${values["centralized-epochs"]} epochs of SGD (lr ${learningRate}, B 10) over the 8,000 training digits`);
const central = await centralized(Number(values["centralized-epochs"]));
const iid = await federated("IID", { kind: "iid" });
const noniid = values["skip-noniid"] ? undefined : await federated("non-IID", { kind: "shards", shardsPerClient: 2 });

const at = (s: SimSummary | undefined, round: number) => {
  const r = s?.history.find((h) => h.round === round);
  return r?.accuracy !== undefined ? r.accuracy.toFixed(4) : "–";
};
const firstReaching = (s: SimSummary | undefined, target: number) => s?.history.find((h) => (h.accuracy ?? 0) >= target)?.round ?? "–";
const checkpoints = [1, 2, 5, ...Array.from({ length: Math.floor(rounds / every) }, (_, i) => (i + 1) * every)].filter((r, i, all) => r <= rounds && all.indexOf(r) === i);
const pct = (x: number) => (100 * x).toFixed(2);

const lines = [
  `MNIST (mnist package, 8,000 train / 2,000 test, seed ${seed}), 2NN 784-200-200-10, 100 clients, C = 0.1, E = 1, B = 10, lr ${learningRate}, FedAvg over ${iid.transport}`,
  "",
  "| round | FedAvg IID | FedAvg non-IID (2 shards/client) |",
  "|---:|---:|---:|",
  ...checkpoints.map((r) => `| ${r} | ${at(iid, r)} | ${at(noniid, r)} |`),
  "",
  "| run | final accuracy | best accuracy (round) | rounds to 90 % | rounds to 95 % | rounds committed | time |",
  "|---|---:|---:|---:|---:|---:|---:|",
  `| centralized (${values["centralized-epochs"]} epochs, same data) | ${pct(central)} % | – | – | – | – | – |`,
  ...[
    ["FedAvg IID", iid],
    ["FedAvg non-IID", noniid],
  ]
    .filter((row): row is [string, SimSummary] => row[1] !== undefined)
    .map(
      ([name, s]) =>
        `| ${name} | ${pct(s.finalAccuracy)} % | ${pct(s.bestAccuracy)} % (${s.bestRound}) | ${firstReaching(s, 0.9)} | ${firstReaching(s, 0.95)} | ${s.committed}/${s.roundsRun} | ${(s.totalMs / 60_000).toFixed(1)} min |`,
    ),
  ...[iid, noniid].flatMap((s) => (s?.stoppedEarly ? [`(${s === iid ? "IID" : "non-IID"} run stopped early: ${s.stoppedEarly})`] : [])),
  "",
  `IID FedAvg final accuracy is ${(100 * (central - iid.finalAccuracy)).toFixed(2)} points below centralized (Done-when: within 2).`,
];
process.stdout.write(`${lines.join("\n")}\n`);
say(`total ${((performance.now() - t0) / 60_000).toFixed(1)} min`);
process.stdout.write(
  `iid_accuracy=${iid.finalAccuracy.toFixed(4)} noniid_accuracy=${noniid ? noniid.finalAccuracy.toFixed(4) : "skipped"} centralized_accuracy=${central.toFixed(4)} iid_gap_points=${(100 * (central - iid.finalAccuracy)).toFixed(2)} rounds=${rounds} transport=${iid.transport}\n`,
);
