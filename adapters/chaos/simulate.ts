import { chaosReport, collectChaosLog, type ChaosReport, type Fault } from "../../domains/chaos/index.ts";
import {
  HealingLoop,
  MeshMonitor,
  observeMeshEvent,
  routeTable,
  type HealEvent,
  type HealingCommandIssued,
  type HealingLoopOptions,
  type MonitorOptions,
} from "../../domains/healing/index.ts";
import type { Route } from "../../domains/healing/index.ts";
import { VerifyPool } from "../../streams/verify-pool.ts";
import { distanceM, type AvailabilityOptions, type MeshTwin, type PairFailure } from "../twin/index.ts";
import { MeshIntake, type IntakeStats } from "./mesh-intake.ts";

/**
 * The MAPE-K loop closed over the twin in simulated time, without NATS: every event a node
 * produces is sealed with its Ed25519 key, goes through the control plane's intake (the
 * knowledge base runner's checks and signature verification on the pool's worker threads,
 * `MeshIntake`) and reaches the loop's monitor after a transport delay; the loop's commands
 * reach the twin's nodes after one, and their outcomes come back after another. Signing and
 * verifying cost CPU, never simulated time. Every HEAL event and injected fault is logged with
 * its time, so detection time and time to repair come from the log alone (`chaosReport`),
 * exactly as for a run over JetStream. Without healing (the baseline) there is no control
 * plane, so nothing is sealed or verified.
 *
 * batman-adv's own reaction: routes are chosen over the TQ it believes (`believedTopology`:
 * each direction's TQ as an average over its OGM window, a 2.5 s time constant, the TQ its nodes
 * report too: a dead or degraded link loses its routes over a few seconds, once its average
 * falls below another path's), with the nodes' hop penalties as they are now (a new penalty
 * travels with the next OGM). Availability (routing.ts) counts a connected pair when that route
 * works over the links as they are now.
 */

const T0 = 1_700_000_000_000;
const STEP_MS = 10;
/** Availability counts a pair when its route at the start has a TQ above this (batman-adv's floor is 1). */
const REACH_TQ = 3;

export interface SimulatedFault {
  readonly faultId: string;
  readonly fault: Fault;
  /** Start, ms after the warm-up. */
  readonly atMs: number;
  /** Stop, ms after the warm-up; default: never. */
  readonly clearAtMs?: number;
}

export interface HealingSimulationOptions {
  /** A twin not started yet; it is driven in manual mode. */
  readonly twin: MeshTwin;
  /** Run the healing loop (false: batman-adv alone, for the baseline). Default true. */
  readonly heal?: boolean;
  readonly faults: readonly SimulatedFault[];
  /** Simulated time after the warm-up. */
  readonly durationMs: number;
  /** Simulated time before the first fault, for baselines and detectors. Default 20 000. */
  readonly warmUpMs?: number;
  /** One hop's transport delay (event to loop, command to node, outcome to loop), ms. Default 5. */
  readonly transportDelayMs?: () => number;
  /** The loop's cycle, ms. Default 100. */
  readonly tickMs?: number;
  readonly monitor?: MonitorOptions;
  readonly loop?: HealingLoopOptions;
  /** Availability sample interval, ms; 0 = none. Default 5 000. */
  readonly availabilityEveryMs?: number;
  /** Availability is sampled from the warm-up's end until this long after it, ms. Default `durationMs`. */
  readonly availabilityUntilMs?: number;
  /** Pair sample and threshold; the horizon is the mesh's routes at the end of the warm-up. */
  readonly availability?: Omit<AvailabilityOptions, "believed" | "horizon">;
  readonly scenario?: string;
  /** Verifies the nodes' signatures; default: a pool of one worker per core, closed at the end. */
  readonly verifyPool?: VerifyPool;
  /** Sees every mesh event as the twin emits it (tests, diagnostics). */
  readonly onMeshEvent?: (nodeId: string, type: string, payload: unknown, atMs: number) => void;
  /** Sees every HEAL event as the loop emits it or an outcome arrives (diagnostics). */
  readonly onHealEvent?: (event: LoggedEvent) => void;
  /** Called about every simulated second with the time since the warm-up. */
  readonly onProgress?: (sinceWarmUpMs: number) => void;
}

export interface LoggedEvent {
  readonly type: string;
  readonly data: unknown;
  readonly atMs: number;
}

export interface AvailabilitySample {
  /** Simulated epoch ms. */
  readonly atMs: number;
  readonly fraction: number;
  readonly pairs: number;
  readonly delivered: number;
  /** With `availability.explain`. */
  readonly failures?: readonly PairFailure[];
}

/** Wall time spent per part of the simulation, ms. */
export interface SimulationTiming {
  readonly wallMs: number;
  /** The twin's rounds, sealing included. */
  readonly twinMs: number;
  /** The intake's checks and waiting for the verification pool. */
  readonly intakeMs: number;
  /** Monitor and loop. */
  readonly loopMs: number;
  readonly availabilityMs: number;
}

export interface HealingSimulationResult {
  /** HEAL and chaos events in the order the loop and the chaos run recorded them. */
  readonly log: readonly LoggedEvent[];
  readonly report: ChaosReport;
  /** Mean availability over the samples; undefined without samples. */
  readonly availability: number | undefined;
  readonly availabilitySamples: number;
  readonly availabilityTrace: readonly AvailabilitySample[];
  /** Node-minutes simulated after the warm-up (for false-positive rates). */
  readonly nodeMinutes: number;
  /** Simulated epoch ms at which the warm-up ended. */
  readonly startedAt: number;
  /** Simulated ms from the start of the warm-up to the end. */
  readonly simulatedMs: number;
  /** What the intake accepted and refused; undefined without healing. */
  readonly intake: IntakeStats | undefined;
  readonly timing: SimulationTiming;
}

type Delivery =
  | { readonly kind: "mesh"; readonly type: string; readonly nodeId: string; readonly payload: unknown; readonly atMs: number }
  | { readonly kind: "bad-signature"; readonly nodeId: string; readonly atMs: number }
  | { readonly kind: "command"; readonly command: HealingCommandIssued }
  | { readonly kind: "outcome"; readonly event: HealEvent };

/** A min-heap of deliveries by time, ties in arrival order. */
class DeliveryQueue {
  private readonly heap: { t: number; n: number; d: Delivery }[] = [];
  private n = 0;
  push(t: number, d: Delivery): void {
    const h = this.heap;
    h.push({ t, n: this.n++, d });
    for (let i = h.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (this.less(h[i]!, h[p]!)) [h[i], h[p]] = [h[p]!, h[i]!];
      else break;
      i = p;
    }
  }
  popUntil(t: number): Delivery | undefined {
    const h = this.heap;
    if (h.length === 0 || h[0]!.t > t) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top.d;
  }
  private less(a: { t: number; n: number }, b: { t: number; n: number }): boolean {
    return a.t < b.t || (a.t === b.t && a.n < b.n);
  }
}

export const simulateHealing = async (options: HealingSimulationOptions): Promise<HealingSimulationResult> => {
  const { twin } = options;
  const heal = options.heal ?? true;
  const warmUpMs = options.warmUpMs ?? 20_000;
  const tickMs = options.tickMs ?? 100;
  const delay = options.transportDelayMs ?? (() => 5);
  const availabilityEveryMs = options.availabilityEveryMs ?? 5_000;
  const availabilityUntilMs = options.availabilityUntilMs ?? options.durationMs;
  const monitor = new MeshMonitor(options.monitor);
  let ids = 0;
  const loop = new HealingLoop(monitor, () => `sim-${(++ids).toString(36).padStart(6, "0")}`, options.loop);
  const queue = new DeliveryQueue();
  const log: LoggedEvent[] = [];
  const ownPool = heal && options.verifyPool === undefined ? new VerifyPool() : undefined;
  const intake = heal ? new MeshIntake(options.verifyPool ?? ownPool!) : undefined;
  const timing = { wallMs: 0, twinMs: 0, intakeMs: 0, loopMs: 0, availabilityMs: 0 };
  const wallStart = performance.now();

  twin.startManual(
    (nodeId, definition, payload, atMs, flags) => {
      options.onMeshEvent?.(nodeId, definition.type, payload, atMs);
      // Checked now (headers, schema, key), signature queued on the pool's workers.
      if (intake && flags.sealed) intake.submit(flags.sealed, atMs);
    },
    { startAtMs: T0, seal: heal },
  );

  const startedAt = T0 + warmUpMs;
  const end = startedAt + options.durationMs;
  const pending = [...options.faults].map((f) => ({ ...f, injected: false, cleared: false }));
  const trace: AvailabilitySample[] = [];
  let reference: ((destination: string) => ReadonlyMap<string, Route>) | undefined;
  const horizons = new Map<string, ReadonlySet<string>>();
  const horizon = (destination: string): ReadonlySet<string> => {
    let h = horizons.get(destination);
    if (!h) {
      // A route at batman-adv's floor comes and goes with every fade: not within reach.
      const routes = [...(reference?.(destination) ?? new Map<string, Route>())].filter(([, r]) => r.tq > REACH_TQ);
      horizons.set(destination, (h = new Set(routes.map(([source]) => source))));
    }
    return h;
  };
  let lastProgress = 0;
  let watermark = 0;

  // The pool's workers are unref'd: while only they have work pending, nothing else would keep the process alive.
  const keepAlive = setInterval(() => undefined, 60_000);
  try {
    for (let t = T0; t <= end; t += STEP_MS) {
      // Chaos first: a fault injected at t shapes what the nodes report at t.
      for (const f of pending) {
        if (!f.injected && t >= startedAt + f.atMs) {
          twin.inject(f.faultId, f.fault);
          f.injected = true;
          log.push({ type: "chaos.FaultInjected", data: { faultId: f.faultId, scenario: options.scenario ?? "simulation", fault: f.fault, injectedAt: t }, atMs: t });
        }
        if (f.injected && !f.cleared && f.clearAtMs !== undefined && t >= startedAt + f.clearAtMs) {
          twin.clear(f.faultId);
          f.cleared = true;
          log.push({ type: "chaos.FaultCleared", data: { faultId: f.faultId, clearedAt: t }, atMs: t });
        }
      }
      let mark = performance.now();
      twin.advanceTo(t);
      let now = performance.now();
      timing.twinMs += now - mark;
      if (intake) {
        mark = now;
        for (const v of await intake.drain()) {
          const arrives = v.atMs + delay();
          // A refused event never reaches the monitor: the runner quarantines it, and the loop hears of a bad signature.
          if (v.accepted) queue.push(arrives, { kind: "mesh", type: v.meta.type, nodeId: v.meta.producerId, payload: v.payload, atMs: Date.parse(v.meta.occurredAt) });
          else if (v.reason === "bad-signature" && v.producerId !== undefined) queue.push(arrives, { kind: "bad-signature", nodeId: v.producerId, atMs: v.atMs });
        }
        now = performance.now();
        timing.intakeMs += now - mark;
      }
      mark = now;
      for (let d = queue.popUntil(t); d; d = queue.popUntil(t)) {
        switch (d.kind) {
          case "mesh":
            // The live loop judges at the newest event time it has seen: the same here.
            watermark = Math.max(watermark, d.atMs);
            observeMeshEvent(monitor, d.type, d.nodeId, d.payload, d.atMs);
            break;
          case "bad-signature":
            monitor.badSignature(d.nodeId, d.atMs);
            break;
          case "command": {
            const answer = twin.applyCommand(d.command);
            if (answer && !answer.repeated) {
              const event = { type: answer.outcome.type, data: answer.outcome.payload } as HealEvent;
              queue.push(t + delay(), { kind: "outcome", event });
            }
            break;
          }
          case "outcome":
            log.push({ type: d.event.type, data: d.event.data, atMs: t });
            options.onHealEvent?.(log.at(-1)!);
            loop.apply(d.event);
            break;
        }
      }
      if (heal && (t - T0) % tickMs === 0) {
        for (const event of loop.tick(Math.min(t, watermark))) {
          log.push({ type: event.type, data: event.data, atMs: t });
          options.onHealEvent?.(log.at(-1)!);
          if (event.type === "heal.HealingCommandIssued") queue.push(t + delay(), { kind: "command", command: event.data });
        }
      }
      timing.loopMs += performance.now() - mark;
      if ((t - T0) % 1_000 === 0) {
        mark = performance.now();
        const since = t - startedAt;
        // batman-adv's reach when nothing is broken yet: pairs beyond it never had a route.
        if (since === 0) reference = routeTable(twin.routeTopology());
        if (availabilityEveryMs > 0 && since >= 0 && since <= availabilityUntilMs && since % availabilityEveryMs === 0) {
          const a = twin.availability({ ...options.availability, believed: twin.believedTopology(), horizon });
          trace.push({ atMs: t, fraction: a.fraction, pairs: a.pairs, delivered: a.delivered, ...(a.failures ? { failures: a.failures } : {}) });
        }
        timing.availabilityMs += performance.now() - mark;
        if (t - lastProgress >= 1_000 && t >= startedAt) {
          lastProgress = t;
          options.onProgress?.(t - startedAt);
        }
      }
    }
  } finally {
    clearInterval(keepAlive);
    await ownPool?.close();
  }

  timing.wallMs = performance.now() - wallStart;
  const { faults, incidents } = collectChaosLog(log);
  const online = twin.nodes.filter((n) => n.online).length;
  // A jamming fault is answered by incidents about any node of its region.
  const located = (twin.topology?.nodes ?? []).filter((n) => n.online && n.location !== undefined);
  const regionNodes = (fault: Fault) => (fault.kind === "jamming" ? located.filter((n) => distanceM(n.location!, fault.center) <= fault.radiusM).map((n) => n.id) : []);
  return {
    log,
    report: chaosReport(faults, incidents, { regionNodes }),
    availability: trace.length > 0 ? trace.reduce((sum, a) => sum + a.fraction, 0) / trace.length : undefined,
    availabilitySamples: trace.length,
    availabilityTrace: trace,
    nodeMinutes: (online * options.durationMs) / 60_000,
    startedAt,
    simulatedMs: end - T0,
    intake: intake?.stats,
    timing,
  };
};
