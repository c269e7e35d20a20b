/**
 * The mesh model: "will this link fail within 10 s?" learnt from digital-twin telemetry
 * (adapters/fl/datasets meshLinkFailureDataset: a 20-node mesh, seeded fades, flaps, cuts and
 * crashes, 15 min of per-second link samples). Each node is a client holding only the links it
 * reports; the test split is a later period of every node. Three ways to train the same MLP
 * (18-32-2): FedAvg over JetStream (every node an actor), centralized on everyone's data
 * pooled (what FL avoids), and local-only (each node on its own data; mean over nodes).
 * Scored on the test period: accuracy, precision and recall of "fails", against the accuracy
 * of always answering "stays up".
 *
 *   npm run experiment:fl-mesh -- [--nodes 20] [--rounds 30] [--fraction 0.5] [--epochs 1]
 *       [--lr 0.05] [--centralized-epochs 10] [--seed 1] [--in-process]
 *
 * Progress on stderr; a markdown table on stdout; last line
 * `fedavg_accuracy=… fedavg_recall=… centralized_accuracy=… local_accuracy=… always_up_accuracy=…`.
 */
import { parseArgs } from "node:util";
import { concat } from "../../adapters/fl/datasets/index.ts";
import { binaryMetrics, meshWorkload, predictClasses, resolveSettings, roundLine, runFlSim, type BinaryMetrics } from "../../adapters/fl/sim/index.ts";
import { initialWeights, initTraining, trainLocal } from "../../adapters/fl/training/index.ts";

const { values } = parseArgs({
  options: {
    nodes: { type: "string", default: "20" },
    rounds: { type: "string", default: "30" },
    fraction: { type: "string", default: "0.5" },
    epochs: { type: "string", default: "1" },
    lr: { type: "string", default: "0.05" },
    "centralized-epochs": { type: "string", default: "10" },
    seed: { type: "string", default: "1" },
    "in-process": { type: "boolean", default: false },
  },
});
const say = (line: string) => process.stderr.write(`${line}\n`);
const learningRate = Number(values.lr);
const seed = Number(values.seed);
const centralEpochs = Number(values["centralized-epochs"]);

await initTraining();
const t0 = performance.now();
const settings = resolveSettings({
  clients: Number(values.nodes),
  rounds: Number(values.rounds),
  fraction: Number(values.fraction),
  epochs: Number(values.epochs),
  batchSize: 10,
  learningRate,
  strategy: "fedavg",
  seed,
  transport: values["in-process"] ? "in-process" : "jetstream",
});
const workload = meshWorkload(settings);
const run = { ...settings, clients: workload.clients.length };
say(workload.description);
const score = (weights: Float32Array): BinaryMetrics => binaryMetrics(predictClasses(workload.spec, weights, workload.test), workload.test.labels);

say(`== FedAvg: ${run.rounds} rounds, C = ${run.fraction}, E = ${run.epochs}, B = 10, lr ${learningRate}, ${run.transport}`);
const fed = await runFlSim(run, workload, {
  modelId: `mesh-${Date.now().toString(36)}`,
  onInfo: say,
  onWarn: (m, fields) => say(`warning: ${m}${fields ? ` ${JSON.stringify(fields)}` : ""}`),
  onRound: (r) => say(`FedAvg: ${roundLine(r, run.rounds)}`),
});
const fedavg = score(fed.model);

say(`== centralized: ${centralEpochs} epochs over every node's examples pooled`);
let central = initialWeights(workload.spec, seed);
const pooled = concat(workload.clients);
for (let epoch = 1; epoch <= centralEpochs; epoch++) {
  central = (await trainLocal(workload.spec, { weights: central, data: pooled, epochs: 1, batchSize: 10, learningRate, seed: seed * 1_000 + epoch })).weights;
  say(`centralized: epoch ${epoch} accuracy ${score(central).accuracy.toFixed(4)}`);
}
const centralized = score(central);

say(`== local only: each of ${workload.clients.length} nodes, ${centralEpochs} epochs on its own examples`);
const locals: BinaryMetrics[] = [];
for (const [i, data] of workload.clients.entries()) {
  const weights = (await trainLocal(workload.spec, { weights: initialWeights(workload.spec, seed), data, epochs: centralEpochs, batchSize: 10, learningRate, seed: seed * 1_000 + i })).weights;
  locals.push(score(weights));
  say(`local: node ${i + 1} (${data.labels.length} examples) accuracy ${locals.at(-1)!.accuracy.toFixed(4)}`);
}
const mean = (pick: (m: BinaryMetrics) => number) => {
  const xs = locals.map(pick).filter((x) => !Number.isNaN(x));
  return xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN;
};
const local: BinaryMetrics = {
  accuracy: mean((m) => m.accuracy),
  precision: mean((m) => m.precision),
  recall: mean((m) => m.recall),
  f1: mean((m) => m.f1),
  positiveRate: fedavg.positiveRate,
};
const alwaysUp = 1 - fedavg.positiveRate;

const f = (x: number) => (Number.isNaN(x) ? "–" : x.toFixed(4));
const row = (name: string, m: BinaryMetrics) => `| ${name} | ${f(m.accuracy)} | ${f(m.precision)} | ${f(m.recall)} | ${f(m.f1)} |`;
const lines = [
  `${workload.description}; test: ${workload.test.labels.length} examples of the later period, ${(100 * fedavg.positiveRate).toFixed(1)} % fail within 10 s`,
  "",
  "| model | accuracy | precision (fails) | recall (fails) | F1 |",
  "|---|---:|---:|---:|---:|",
  row(`FedAvg (${fed.committed} rounds committed over ${fed.transport}, C = ${run.fraction})`, fedavg),
  row(`centralized (${centralEpochs} epochs, data pooled)`, centralized),
  row(`local only (mean of ${locals.length} nodes, ${centralEpochs} epochs each; accuracy ${f(Math.min(...locals.map((m) => m.accuracy)))}–${f(Math.max(...locals.map((m) => m.accuracy)))})`, local),
  `| always "stays up" | ${f(alwaysUp)} | – | 0 | – |`,
];
process.stdout.write(`${lines.join("\n")}\n`);
say(`total ${((performance.now() - t0) / 60_000).toFixed(1)} min`);
process.stdout.write(
  `fedavg_accuracy=${f(fedavg.accuracy)} fedavg_precision=${f(fedavg.precision)} fedavg_recall=${f(fedavg.recall)} centralized_accuracy=${f(centralized.accuracy)} centralized_recall=${f(centralized.recall)} local_accuracy=${f(local.accuracy)} local_recall=${f(local.recall)} always_up_accuracy=${f(alwaysUp)} rounds=${fed.committed} transport=${fed.transport}\n`,
);
