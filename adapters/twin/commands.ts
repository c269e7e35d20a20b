import type { CommandApplied, CommandFailed, HealingAction, HealingCommandIssued, TrafficSource } from "../../domains/healing/index.ts";
import { RESTART_EFFECT, type MeshModel } from "./mesh-model.ts";
import { sourceKey, type GatewaySetting, type SimulatedNode } from "./node.ts";
import { Rng } from "../../domains/kernel/rng.ts";

/**
 * Healing commands carried out as a node agent would: the batctl / ip / XDP call each action
 * maps to, its effect on the model, and the outcome the node reports (exit code 0 with a
 * detail line, or the exit code and stderr the tool prints).
 *
 * | action | node agent runs | effect in the twin |
 * |---|---|---|
 * | `hop-penalty` | `batctl meshif bat0 hop_penalty V`, or `batctl hardif IF hop_penalty V` | the node's penalty, hence routes, change; an unknown IF fails (exit 1) |
 * | `gateway` | `batctl meshif bat0 gw_mode off\|client [class]\|server [down/up]` | the node's gateway setting |
 * | `quarantine` | XDP drop rule for the source | every link between the enforcing node and the source's node is dead (no frames, no OGMs or echoes) |
 * | `release` | removes the source's drop rule and rate limit | the links come back |
 * | `rate-limit` | XDP token bucket for the source | the enforcing node accepts at most `pps` from it |
 * | `restart-interface` | `ip link set dev IF down; ip link set dev IF up` | the links on IF are down for 1-2 s, then back; an unknown IF fails (exit 1) |
 *
 * IP sources (ipv4, ipv6-prefix) install their rule but change nothing: the twin has no IP traffic.
 */

export type CommandOutcome =
  | { readonly type: "heal.CommandApplied"; readonly payload: CommandApplied }
  | { readonly type: "heal.CommandFailed"; readonly payload: CommandFailed };

/** How long an interface restart keeps its links down: down, up, then the first OGMs heard again. */
export const RESTART_DOWN_MS = { min: 1_000, max: 2_000 } as const;

const describeSource = (model: MeshModel, source: TrafficSource): string => {
  switch (source.kind) {
    case "mac": {
      const owner = model.macOwner.get(source.mac);
      return `${source.mac}${owner ? ` (${owner.id})` : ""}`;
    }
    case "ipv4":
      return source.address;
    case "ipv6-prefix":
      return source.prefix;
  }
};

const gatewayArgs = (g: GatewaySetting): string =>
  g.mode === "client" && g.selClass !== undefined
    ? `client ${g.selClass}`
    : g.mode === "server" && (g.downKbps !== undefined || g.upKbps !== undefined)
      ? `server ${g.downKbps ?? 0}kbit/${g.upKbps ?? 0}kbit`
      : g.mode;

/**
 * Carries out one action on `node` at `t` and says what the node reports. Changes the model;
 * deterministic for a given seed and command order.
 */
export const executeAction = (
  model: MeshModel,
  node: SimulatedNode,
  action: HealingAction,
  t: number,
  seed: number,
): { readonly ok: true; readonly detail: string } | { readonly ok: false; readonly exitCode: number; readonly stderr: string } => {
  switch (action.kind) {
    case "hop-penalty": {
      if (action.hardIf === undefined) {
        const before = node.hopPenalty;
        node.hopPenalty = action.value;
        return { ok: true, detail: `batctl meshif bat0 hop_penalty ${action.value}: hop_penalty ${before} -> ${action.value}` };
      }
      if (!node.interfaces.has(action.hardIf)) {
        // batctl cannot resolve the hard interface: it prints this line (then its usage) and exits 1.
        return { ok: false, exitCode: 1, stderr: `Error - invalid hardif ${action.hardIf}: No such device\n` };
      }
      const before = node.interfaceHopPenalty.get(action.hardIf) ?? 0;
      if (action.value === 0) node.interfaceHopPenalty.delete(action.hardIf);
      else node.interfaceHopPenalty.set(action.hardIf, action.value);
      return {
        ok: true,
        detail: `batctl hardif ${action.hardIf} hop_penalty ${action.value}: hop_penalty ${before} -> ${action.value} on ${action.hardIf}`,
      };
    }
    case "gateway": {
      const before = node.gateway;
      const setting: GatewaySetting = {
        mode: action.mode,
        ...(action.selClass !== undefined ? { selClass: action.selClass } : {}),
        ...(action.downKbps !== undefined ? { downKbps: action.downKbps } : {}),
        ...(action.upKbps !== undefined ? { upKbps: action.upKbps } : {}),
      };
      node.gateway = setting;
      return { ok: true, detail: `batctl meshif bat0 gw_mode ${gatewayArgs(setting)}: gw_mode ${before.mode} -> ${setting.mode}` };
    }
    case "quarantine": {
      const key = sourceKey(action.source);
      node.quarantined.set(key, action.source);
      if (action.ttlMs !== undefined) node.quarantinedUntil.set(key, t + action.ttlMs);
      else node.quarantinedUntil.delete(key);
      model.changed();
      const until = action.ttlMs !== undefined ? ` for ${action.ttlMs} ms` : "";
      return { ok: true, detail: `xdp: dropping every frame from ${describeSource(model, action.source)} on all interfaces${until}` };
    }
    case "release": {
      const key = sourceKey(action.source);
      const dropped = node.quarantined.delete(key);
      node.quarantinedUntil.delete(key);
      const limited = node.rateLimits.delete(key);
      model.changed();
      const what = [dropped ? "drop rule" : undefined, limited ? "rate limit" : undefined].filter((w) => w !== undefined).join(" and ");
      return {
        ok: true,
        detail: what
          ? `xdp: removed the ${what} for ${describeSource(model, action.source)}`
          : `xdp: no rule for ${describeSource(model, action.source)}; nothing to release`,
      };
    }
    case "rate-limit": {
      node.rateLimits.set(sourceKey(action.source), { source: action.source, pps: action.pps, burst: action.burst });
      return {
        ok: true,
        detail: `xdp: rate limit ${action.pps} pps (burst ${action.burst}) on frames from ${describeSource(model, action.source)}`,
      };
    }
    case "restart-interface": {
      if (!node.interfaces.has(action.ifname)) {
        // iproute2's message and exit code for a device that does not exist.
        return { ok: false, exitCode: 1, stderr: `Cannot find device "${action.ifname}"\n` };
      }
      const rng = new Rng(seed, 0x72737472, node.index, node.restarts++);
      const downMs = Math.round(RESTART_DOWN_MS.min + (RESTART_DOWN_MS.max - RESTART_DOWN_MS.min) * rng.float());
      const key = `${RESTART_EFFECT}${node.id}:${action.ifname}`;
      for (const l of node.links) {
        if (l.hardIfname !== action.ifname) continue;
        for (const d of [l, l.reverse]) if (d) model.setEffect(d, key, { loss: 1, latencyMs: 0, window: { startMs: t, downMs } });
      }
      // Links the neighbour lists but this node does not (one-sided in a snapshot) share the interface too.
      for (const l of model.links) {
        if (l.to === node.index && !l.reverse && l.hardIfname === action.ifname) {
          model.setEffect(l, key, { loss: 1, latencyMs: 0, window: { startMs: t, downMs } });
        }
      }
      return { ok: true, detail: `ip link set dev ${action.ifname} down && ip link set dev ${action.ifname} up: links on ${action.ifname} re-learn after ${downMs} ms` };
    }
  }
};

/**
 * Answers one command as the target node: carries it out once, and for a command id already
 * seen returns the first answer with `repeated` (the caller publishes it only once).
 */
export const answerCommand = (
  model: MeshModel,
  node: SimulatedNode,
  command: HealingCommandIssued,
  t: number,
  seed: number,
): { readonly outcome: CommandOutcome; readonly repeated: boolean } => {
  const seen = node.answered.get(command.commandId);
  if (seen) return { outcome: seen as CommandOutcome, repeated: true };
  const result = executeAction(model, node, command.action, t, seed);
  const base = {
    commandId: command.commandId,
    ...(command.incidentId !== undefined ? { incidentId: command.incidentId } : {}),
    targetNodeId: node.id,
  };
  const at = Math.max(0, Math.floor(t));
  const outcome: CommandOutcome = result.ok
    ? { type: "heal.CommandApplied", payload: { ...base, exitCode: 0, detail: result.detail.slice(0, 1024), appliedAt: at } }
    : { type: "heal.CommandFailed", payload: { ...base, exitCode: result.exitCode, stderr: result.stderr.slice(-4096), failedAt: at } };
  node.answered.set(command.commandId, outcome);
  // Commands are rare; the bound only keeps a runaway loop from growing the map forever.
  if (node.answered.size > 10_000) node.answered.delete(node.answered.keys().next().value!);
  return { outcome, repeated: false };
};
