/**
 * What a healing action does on this node: hop-penalty, gateway and restart-interface through
 * batman-adv (batctl, ip), quarantine, release and rate-limit through the XDP filters on every
 * filtered interface. Each call ends in `{ exitCode, detail, stderr }`.
 */
import type { HealingAction, HealingCommandIssued } from "../../domains/healing/events.ts";
import type { ActuatorOutcome, BatmanAdv } from "../batman-adv/index.ts";
import type { XdpFilter } from "../xdp/index.ts";

/** Carries out one healing action on this node. Never rejects: a failure is an outcome. */
export interface NodeActuators {
  /** `command` is the command the action came in (for logs and test doubles). */
  apply(action: HealingAction, command?: HealingCommandIssued): Promise<ActuatorOutcome>;
}

/** Actions that may be carried out again after a crash with no further effect (the kernel ends in the same state). */
export const isIdempotent = (action: HealingAction): boolean => action.kind !== "restart-interface";

/** EX_UNAVAILABLE: the node has no XDP filter to carry the action out. */
export const EX_UNAVAILABLE = 69;
/** EX_SOFTWARE: the actuator threw (a bug, not a kernel refusal). */
export const EX_SOFTWARE = 70;

export class KernelActuators implements NodeActuators {
  constructor(
    private readonly batman: BatmanAdv,
    private readonly filters: readonly XdpFilter[],
  ) {}

  async apply(action: HealingAction): Promise<ActuatorOutcome> {
    try {
      switch (action.kind) {
        case "hop-penalty":
        case "gateway":
        case "restart-interface":
          return await this.batman.apply(action);
        case "quarantine":
        case "release":
        case "rate-limit":
          return await this.onEveryFilter(action);
      }
    } catch (error) {
      return { exitCode: EX_SOFTWARE, detail: "", stderr: `${action.kind}: ${(error as Error).message}` };
    }
  }

  /** The same rule on every filtered interface; applied only if every interface took it. */
  private async onEveryFilter(action: HealingAction): Promise<ActuatorOutcome> {
    if (this.filters.length === 0) return { exitCode: EX_UNAVAILABLE, detail: "", stderr: `${action.kind}: this node filters no interface (x0 agent --xdp-if IFACE)` };
    const outcomes = await Promise.all(this.filters.map((f) => f.apply(action)));
    const failure = outcomes.find((o) => o.exitCode !== 0);
    if (!failure) return { exitCode: 0, detail: outcomes.map((o) => o.detail).join("; "), stderr: "" };
    return {
      exitCode: failure.exitCode,
      detail: failure.detail,
      stderr: outcomes
        .map((o, i) => (o.exitCode === 0 ? `${this.filters[i]!.iface}: ${o.detail}` : `${this.filters[i]!.iface}: exit ${o.exitCode}: ${o.stderr}`))
        .join("\n"),
    };
  }
}
