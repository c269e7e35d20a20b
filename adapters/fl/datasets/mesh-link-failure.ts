import type { Fault } from "../../../domains/chaos/index.ts";
import { Rng } from "../../../domains/kernel/rng.ts";
import { injectFault, type ActiveFault } from "../../twin/faults.ts";
import { tqFromLoss } from "../../twin/link-model.ts";
import { MeshModel } from "../../twin/mesh-model.ts";
import { generateTopology, type MeshTopology } from "../../twin/topology.ts";
import { BATMAN_TQ_TIME_CONSTANT_MS } from "../../twin/twin.ts";
import type { Dataset } from "../training/index.ts";

export interface MeshLinkFailureOptions {
  /** Nodes of the generated mesh (random geometric graph). Default 20; ignored with `topology`. */
  readonly nodes?: number;
  /** Run on this topology instead (e.g. a meshviewer snapshot). */
  readonly topology?: MeshTopology;
  /** Simulated seconds, one sample per link per second. Default 900. */
  readonly seconds?: number;
  /** Seeds the topology, the link noise and the fault schedule. Default 1. */
  readonly seed?: number;
  /** Past TQ samples per example (k). Default 10. */
  readonly window?: number;
  /** Seconds ahead the label looks (H). Default 10. */
  readonly horizon?: number;
  /** A link counts as failed while the TQ its node reports is below this (0-255), or while it is cut. Default 40. */
  readonly tqThreshold?: number;
  /** Seconds between two examples of one link. Default 2. */
  readonly stride?: number;
  /** The last part of the run, pooled over all nodes, is the test set. Default 0.25. */
  readonly testFraction?: number;
  /** Degradation episodes (fades, flaps, cuts) per link per hour. Default 20. */
  readonly episodesPerLinkHour?: number;
  /** Node crashes per node per hour. Default 0.5. */
  readonly crashesPerNodeHour?: number;
}

export interface MeshLinkFailureDataset {
  /** Each node's own examples (the links it reports), from the training period: its local data. */
  readonly perNode: Map<string, Dataset>;
  /** Examples of every node from the test period (after the training period, no overlap). */
  readonly test: Dataset;
  /** Names of the `inputSize` features, in order. */
  readonly featureNames: readonly string[];
}

/** Class 1: the link fails within the horizon; class 0: it stays up. */
export const LINK_FAILS = 1;

/**
 * The features of one example, as a node sees its link to a neighbour at second t:
 * - `tq[t-(k-1)]` … `tq[t-0]`: the TQ batman-adv reports (smoothed over a few seconds, as in the
 *   twin), the last k seconds, / 255;
 * - `loss`, `loss_mean`: probe loss now and over the window, 0-1;
 * - `latency`: log10(1 + ms) / 3 (1 ≈ a second);
 * - `last_seen`: seconds since the neighbour's last OGM / 10, at most 1;
 * - `tq_slope`: least-squares change of the reported TQ across the window, / 255;
 * - `tq_min`: lowest reported TQ in the window, / 255;
 * - `failed_fraction`: fraction of the window in which the link was failed (from the probe loss);
 * - `wifi`: 1 for a radio link, 0 for a tunnel or cable.
 */
export const meshFeatureNames = (window: number): string[] => [
  ...Array.from({ length: window }, (_, i) => `tq[t-${window - 1 - i}]`),
  "loss",
  "loss_mean",
  "latency",
  "last_seen",
  "tq_slope",
  "tq_min",
  "failed_fraction",
  "wifi",
];

/** Stream tags of the fault schedule ("eps ") and crashes ("crsh"). */
const EPISODE_STREAM = 0x65707320;
const CRASH_STREAM = 0x63727368;

/** A degradation of one node pair, as a sequence of chaos faults over time. */
interface Episode {
  readonly pair: readonly [string, string];
  readonly kind: "fade" | "flap" | "cut";
  readonly start: number;
  /** Fade: seconds over which the extra loss rises to `peak`. */
  readonly ramp: number;
  readonly peak: number;
  /** Fade: whether it ends in a cut (loss 1) rather than holding at the peak. */
  readonly endsInCut: boolean;
  readonly end: number;
  active?: ActiveFault;
  loss?: number;
}

/**
 * A dataset for "will this link fail soon?", from the digital twin's link model run offline
 * (no NATS): a mesh of `nodes`, every directed link sampled each second (TQ, loss, latency,
 * last-seen), with seeded chaos episodes laid over each node pair through the twin's own fault
 * injection (`episodesPerLinkHour` of them, one at a time per pair):
 * - 45 % fades (`link-degradation`): extra loss rising over 5-20 s to 60-95 %, then (60 %) a
 *   cut of 10-60 s, else a hold at the peak;
 * - 45 % flaps (`link-flap`): down 1-4 s of every 5-15 s, for 30-120 s;
 * - 10 % sudden cuts: loss 1 for 5-30 s, without warning;
 * plus node crashes (`node-crash`, 10-60 s) that cut every link of the node. Radio links near
 * the edge of range also dip below the threshold by themselves.
 *
 * An example is one link at one second while it is up, as its own node sees it, labelled 1
 * (LINK_FAILS) when it fails (reported TQ below `tqThreshold`, or cut) within the next
 * `horizon` seconds. Sudden cuts, crashes and radio noise make part of the failures
 * unforeseeable: with the defaults 15-20 % of examples are positive and a small MLP gains
 * only a few points of accuracy over always answering "stays up" (compare losses, not only
 * accuracy).
 * Partitioned by the node that reports the link, so each node's data is its own
 * neighbourhood: naturally non-IID. Deterministic for a seed.
 */
export const meshLinkFailureDataset = (options: MeshLinkFailureOptions = {}): MeshLinkFailureDataset => {
  const seed = options.seed ?? 1;
  const seconds = options.seconds ?? 900;
  const window = options.window ?? 10;
  const horizon = options.horizon ?? 10;
  const tqThreshold = options.tqThreshold ?? 40;
  const stride = options.stride ?? 2;
  const testFraction = options.testFraction ?? 0.25;
  for (const [name, v] of Object.entries({ seconds, window, horizon, stride })) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  }
  if (!(testFraction > 0 && testFraction < 1)) throw new RangeError(`testFraction must be within (0, 1), got ${testFraction}`);
  if (!(tqThreshold > 0 && tqThreshold <= 255)) throw new RangeError(`tqThreshold must be within 1-255, got ${tqThreshold}`);

  const topology = options.topology ?? generateTopology({ nodes: options.nodes ?? 20, seed });
  const mesh = new MeshModel(topology, { seed, intervalMs: 1_000 });
  const links = mesh.links;
  const L = links.length;
  const T = seconds;

  // Per directed link, per second: what its node reports, and the truth the label comes from.
  const reportedTq = new Float32Array(L * T);
  const loss = new Float32Array(L * T);
  const latency = new Float32Array(L * T);
  const lastSeen = new Float32Array(L * T);
  const failed = new Uint8Array(L * T);
  const reporterDown = new Uint8Array(L * T);
  const smoothedTq = new Float64Array(L).fill(Number.NaN);
  const smoothing = 1 - Math.exp(-1_000 / BATMAN_TQ_TIME_CONSTANT_MS);

  const schedule = faultSchedule(mesh, topology, seed, options.episodesPerLinkHour ?? 20, options.crashesPerNodeHour ?? 0.5);
  for (let t = 0; t < T; t++) {
    const ms = t * 1_000;
    schedule.advance(t, ms);
    for (const node of mesh.nodes) {
      mesh.prepareSample(node, ms);
      for (const link of node.links) {
        const m = link.model.sample();
        const previous = smoothedTq[link.index]!;
        const tq = Number.isNaN(previous) ? m.tq : previous + smoothing * (m.tq - previous);
        smoothedTq[link.index] = tq;
        const at = link.index * T + t;
        reportedTq[at] = tq;
        loss[at] = m.loss;
        latency[at] = m.latency_ms;
        lastSeen[at] = m.last_seen_msecs;
        failed[at] = tq < tqThreshold || !mesh.works(link, ms) ? 1 : 0;
        reporterDown[at] = node.alive ? 0 : 1;
      }
    }
  }

  const featureNames = meshFeatureNames(window);
  const width = featureNames.length;
  const trainEnd = Math.floor(T * (1 - testFraction));
  const perNodeRows = new Map<number, { features: number[]; labels: number[] }>();
  const testRows = { features: [] as number[], labels: [] as number[] };
  const features = new Float32Array(width);

  for (const link of links) {
    const base = link.index * T;
    for (let t = window - 1; t + horizon < T; t += stride) {
      const at = base + t;
      if (failed[at] === 1 || reporterDown[at] === 1) continue;
      // Training examples see nothing of the test period, not even in their label; test windows start after it.
      const inTrain = t + horizon < trainEnd;
      const inTest = t - window + 1 >= trainEnd;
      if (!inTrain && !inTest) continue;
      let label = 0;
      for (let h = 1; h <= horizon; h++) if (failed[at + h] === 1) label = LINK_FAILS;
      linkFeatures(features, window, { reportedTq, loss, latency, lastSeen, failed }, at, link.kind === "wifi");
      let rows = testRows;
      if (inTrain) {
        rows = perNodeRows.get(link.from) ?? { features: [], labels: [] };
        perNodeRows.set(link.from, rows);
      }
      for (const f of features) rows.features.push(f);
      rows.labels.push(label);
    }
  }

  const toDataset = (rows: { features: number[]; labels: number[] }): Dataset => ({
    inputs: Float32Array.from(rows.features),
    labels: Int32Array.from(rows.labels),
    inputSize: width,
    classes: 2,
  });
  const perNode = new Map<string, Dataset>();
  for (const node of mesh.nodes) {
    const rows = perNodeRows.get(node.index);
    if (rows && rows.labels.length > 0) perNode.set(node.id, toDataset(rows));
  }
  return { perNode, test: toDataset(testRows), featureNames };
};

interface Series {
  readonly reportedTq: Float32Array;
  readonly loss: Float32Array;
  readonly latency: Float32Array;
  readonly lastSeen: Float32Array;
  readonly failed: Uint8Array;
}

/** Fills `out` with the features of the window ending at series index `at` (see `meshFeatureNames`). */
const linkFeatures = (out: Float32Array, window: number, s: Series, at: number, wifi: boolean): void => {
  const first = at - window + 1;
  let lossSum = 0;
  let tqMin = Infinity;
  let failedCount = 0;
  // Least-squares slope of TQ against time over the window, times its span: the change across it.
  const meanX = (window - 1) / 2;
  let meanY = 0;
  for (let i = 0; i < window; i++) meanY += s.reportedTq[first + i]!;
  meanY /= window;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < window; i++) {
    const tq = s.reportedTq[first + i]!;
    out[i] = tq / 255;
    lossSum += s.loss[first + i]!;
    tqMin = Math.min(tqMin, tq);
    failedCount += s.failed[first + i]!;
    sxy += (i - meanX) * (tq - meanY);
    sxx += (i - meanX) ** 2;
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  let f = window;
  out[f++] = s.loss[at]!;
  out[f++] = lossSum / window;
  out[f++] = Math.log10(1 + s.latency[at]!) / 3;
  out[f++] = Math.min(1, s.lastSeen[at]! / 10_000);
  out[f++] = (slope * (window - 1)) / 255;
  out[f++] = tqMin / 255;
  out[f++] = failedCount / window;
  out[f++] = wifi ? 1 : 0;
};

/** Seeded degradation episodes per node pair and node crashes, applied second by second through `injectFault`. */
const faultSchedule = (mesh: MeshModel, topology: MeshTopology, seed: number, episodesPerHour: number, crashesPerHour: number) => {
  const episodeRng = new Rng(seed, EPISODE_STREAM);
  const crashRng = new Rng(seed, CRASH_STREAM);
  const pairs = [
    ...new Map(
      topology.links
        .filter((l) => topology.nodes[l.a]!.online && topology.nodes[l.b]!.online && l.tqAB !== 0 && l.tqBA !== 0)
        .map((l) => {
          const pair = [topology.nodes[l.a]!.id, topology.nodes[l.b]!.id] as const;
          return [`${pair[0]} ${pair[1]}`, pair] as const;
        }),
    ).values(),
  ];
  const episodes = new Map<string, Episode>();
  const crashes = new Map<string, { end: number; active: ActiveFault }>();
  let ids = 0;
  const pEpisode = episodesPerHour / 3_600;
  const pCrash = crashesPerHour / 3_600;
  const between = (rng: Rng, lo: number, hi: number) => lo + Math.floor(rng.float() * (hi - lo + 1));

  const set = (episode: Episode, fault: Fault | undefined, ms: number) => {
    episode.active?.undo();
    delete episode.active;
    if (fault) episode.active = injectFault(mesh, `fl-episode-${++ids}`, fault, ms);
  };

  const advance = (t: number, ms: number) => {
    for (const [key, episode] of episodes) {
      if (t >= episode.end) {
        set(episode, undefined, ms);
        episodes.delete(key);
        continue;
      }
      if (episode.kind !== "fade") continue;
      const elapsed = t - episode.start;
      const loss = elapsed < episode.ramp ? (episode.peak * (elapsed + 1)) / episode.ramp : episode.endsInCut ? 1 : episode.peak;
      if (loss === episode.loss) continue;
      episode.loss = loss;
      set(episode, { kind: "link-degradation", link: episode.pair, loss: Math.min(1, loss) }, ms);
    }
    for (const pair of pairs) {
      const key = `${pair[0]} ${pair[1]}`;
      if (episodes.has(key) || episodeRng.float() >= pEpisode) continue;
      const draw = episodeRng.float();
      const kind = draw < 0.45 ? "fade" : draw < 0.9 ? "flap" : "cut";
      const ramp = between(episodeRng, 5, 20);
      const episode: Episode = {
        pair,
        kind,
        start: t,
        ramp,
        peak: 0.6 + 0.35 * episodeRng.float(),
        endsInCut: episodeRng.float() < 0.6,
        end: t + (kind === "fade" ? ramp + between(episodeRng, 10, 60) : kind === "flap" ? between(episodeRng, 30, 120) : between(episodeRng, 5, 30)),
      };
      episodes.set(key, episode);
      if (kind === "flap") {
        const periodMs = between(episodeRng, 5, 15) * 1_000;
        set(episode, { kind: "link-flap", link: pair, periodMs, downMs: between(episodeRng, 1, 4) * 1_000 }, ms);
      } else if (kind === "cut") set(episode, { kind: "link-degradation", link: pair, loss: 1 }, ms);
      else {
        episode.loss = episode.peak / ramp;
        set(episode, { kind: "link-degradation", link: pair, loss: episode.loss }, ms);
      }
    }
    for (const node of mesh.nodes) {
      const crash = crashes.get(node.id);
      if (crash && t >= crash.end) {
        crash.active.undo();
        crashes.delete(node.id);
      }
      if (crashes.has(node.id) || !node.spec.online || crashRng.float() >= pCrash) continue;
      const end = t + between(crashRng, 10, 60);
      crashes.set(node.id, { end, active: injectFault(mesh, `fl-crash-${++ids}`, { kind: "node-crash", node: node.id }, ms) });
    }
  };
  return { advance };
};
