import { chaosReport, collectChaosLog, type ChaosReport, type Fault } from "../../domains/chaos/index.ts";
import {
  HealingLoop,
  MeshMonitor,
  observeMeshEvent,
  type HealEvent,
  type HealingCommandIssued,
  type HealingLoopOptions,
  type MonitorOptions,
} from "../../domains/healing/index.ts";
import type { RouteTopology } from "../../domains/healing/index.ts";
import type { AvailabilityOptions, MeshTwin } from "../twin/index.ts";

/**
 * The MAPE-K loop closed over the twin in simulated time, without NATS: the twin's events
 * (unsigned, manual mode) reach the loop's monitor after a transport delay, the loop's
 * commands reach the twin's nodes after one, and their outcomes come back after another.
 * Every HEAL event and injected fault is logged with its time, so detection time and time to
 * repair come from the log alone (`chaosReport`), exactly as for a run over JetStream.
 *
 * batman-adv's own reaction: routes are chosen over the links as they were `batmanLagMs`
 * ago (its TQ window needs a few OGM intervals to notice a change; about 6 s to re-route
 * around a dead link at the default 1 s originator interval), with the nodes' hop penalties
 * as they are now (a new penalty travels with the next OGM). Availability counts a pair when
 * that route delivers over the links as they are now.
 */

const T0 = 1_700_000_000_000;
const STEP_MS = 10;

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
  readonly availability?: Omit<AvailabilityOptions, "believed">;
  /** Default 5 000. */
  readonly batmanLagMs?: number;
  readonly scenario?: string;
  /** Sees every mesh event as the twin emits it (tests, diagnostics). */
  readonly onMeshEvent?: (nodeId: string, type: string, payload: unknown, atMs: number) => void;
  /** Called about every simulated second with the time since the warm-up. */
  readonly onProgress?: (sinceWarmUpMs: number) => void;
}

export interface LoggedEvent {
  readonly type: string;
  readonly data: unknown;
  readonly atMs: number;
}

export interface HealingSimulationResult {
  /** HEAL and chaos events in the order the loop and the chaos run recorded them. */
  readonly log: readonly LoggedEvent[];
  readonly report: ChaosReport;
  /** Mean availability over the samples after the warm-up; undefined without samples. */
  readonly availability: number | undefined;
  readonly availabilitySamples: number;
  /** Node-minutes simulated after the warm-up (for false-positive rates). */
  readonly nodeMinutes: number;
  /** Simulated epoch ms at which the warm-up ended. */
  readonly startedAt: number;
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

export const simulateHealing = (options: HealingSimulationOptions): HealingSimulationResult => {
  const { twin } = options;
  const heal = options.heal ?? true;
  const warmUpMs = options.warmUpMs ?? 20_000;
  const tickMs = options.tickMs ?? 100;
  const delay = options.transportDelayMs ?? (() => 5);
  const lagMs = options.batmanLagMs ?? 5_000;
  const availabilityEveryMs = options.availabilityEveryMs ?? 5_000;
  const monitor = new MeshMonitor(options.monitor);
  let ids = 0;
  const loop = new HealingLoop(monitor, () => `sim-${(++ids).toString(36).padStart(6, "0")}`, options.loop);
  const queue = new DeliveryQueue();
  const log: LoggedEvent[] = [];

  twin.startManual(
    (nodeId, definition, payload, atMs, flags) => {
      options.onMeshEvent?.(nodeId, definition.type, payload, atMs);
      const arrives = atMs + delay();
      // A badly signed event never reaches the monitor: the runner quarantines it, and the loop hears of that.
      if (flags?.badSignature) queue.push(arrives, { kind: "bad-signature", nodeId, atMs });
      else queue.push(arrives, { kind: "mesh", type: definition.type, nodeId, payload, atMs });
    },
    { startAtMs: T0 },
  );

  const startedAt = T0 + warmUpMs;
  const end = startedAt + options.durationMs;
  const pending = [...options.faults].map((f) => ({ ...f, injected: false, cleared: false }));
  const snapshots: { t: number; topology: RouteTopology }[] = [];
  let availabilitySum = 0;
  let availabilitySamples = 0;
  let lastProgress = 0;
  let watermark = 0;

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
    twin.advanceTo(t);
    for (let d = queue.popUntil(t); d; d = queue.popUntil(t)) {
      switch (d.kind) {
        case "mesh":
          if (!heal) break; // batman-adv alone: nobody watches
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
          loop.apply(d.event);
          break;
      }
    }
    if (heal && (t - T0) % tickMs === 0) {
      for (const event of loop.tick(Math.min(t, watermark))) {
        log.push({ type: event.type, data: event.data, atMs: t });
        if (event.type === "heal.HealingCommandIssued") queue.push(t + delay(), { kind: "command", command: event.data });
      }
    }
    if ((t - T0) % 1_000 === 0) {
      snapshots.push({ t, topology: twin.routeTopology() });
      while (snapshots.length > 1 && snapshots[1]!.t <= t - lagMs) snapshots.shift();
      if (availabilityEveryMs > 0 && t >= startedAt && (t - startedAt) % availabilityEveryMs === 0) {
        const a = twin.availability({ ...options.availability, believed: snapshots[0]!.topology });
        availabilitySum += a.fraction;
        availabilitySamples++;
      }
      if (t - lastProgress >= 1_000 && t >= startedAt) {
        lastProgress = t;
        options.onProgress?.(t - startedAt);
      }
    }
  }

  const { faults, incidents } = collectChaosLog(log);
  const online = twin.nodes.filter((n) => n.online).length;
  return {
    log,
    report: chaosReport(faults, incidents),
    availability: availabilitySamples > 0 ? availabilitySum / availabilitySamples : undefined,
    availabilitySamples,
    nodeMinutes: (online * options.durationMs) / 60_000,
    startedAt,
  };
};
