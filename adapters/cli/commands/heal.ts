import { parseArgs } from "node:util";
import { join } from "node:path";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import * as Exit from "effect/Exit";
import * as Cause from "effect/Cause";
import * as Schema from "effect/Schema";
import * as SchemaIssue from "effect/SchemaIssue";
import {
  healCommandSubject,
  healOutcomeSubject,
  HealingCommandIssued,
  type CommandApplied,
  type CommandFailed,
  type HealingAction,
} from "../../../domains/healing/index.ts";
import { enrolmentSubject, ProducerEnrolled } from "../../../domains/identity/index.ts";
import { authorizeHealEvent, describeAction } from "../../../projections/incidents/index.ts";
import { uuidv7 } from "../../../streams/clock.ts";
import { connectNats } from "../../../streams/connection.ts";
import { decodeCbor } from "../../../streams/envelope.ts";
import { readEvents } from "../../../streams/event-reader.ts";
import { EventStore, Producer } from "../../../streams/event-store.ts";
import { loadOrCreateSigningKey, type SigningKey } from "../../../streams/keys.ts";
import { ProducerRegistry, type ProducerKey } from "../../../streams/producer-registry.ts";
import { dataDirFrom, parseIntOption, resolveServers, UsageError } from "../options.ts";
import { replayIdentity } from "./incidents.ts";

export const healUsage = `x0 heal <action> --node ID [options]
  Issues a healing command to one node as an operator: heal.HealingCommandIssued (issuedBy
  operator) on heal.<node>.command, signed with the operator's key, then waits for the node's
  CommandApplied or CommandFailed on heal.<node>.outcome and prints it.

  quarantine  --mac MAC | --ip A.B.C.D | --prefix P    drop the source's traffic on the node
  release     --mac MAC | --ip A.B.C.D | --prefix P    stop dropping it
  rate-limit  --mac MAC | --ip A.B.C.D | --prefix P  --pps N --burst N
                                                      cap the source at N packets/s, token bucket of N
  hop-penalty --value N [--hard-if IF]                batctl [hardif IF] hop_penalty N (0-255)
  gateway     --mode off|client|server [--sel-class N] [--down-kbps N --up-kbps N]
                                                      batctl gw_mode (sel-class: client; kbps: server)
  restart-interface --ifname IF                       take IF down and up again

  --node ID          the node that must act (required)
  --operator NAME    who issues it (default $USER, else "operator"): producer operator-NAME, key in
                     <data-dir>/keys/operator-NAME.key (Ed25519, mode 0600, created on first use).
                     The first use enrols the key (identity.ProducerEnrolled, role operator) and
                     waits for the control plane (x0 up) to bind it.
  --enrol-timeout S  how long that first use waits (default 15)
  --wait SECONDS     how long to wait for the node's outcome; 0 = do not wait (default 10)
  --data-dir DIR     where to find a local x0 up's server and the keys (default ./.x0)

  Exit code: 0 applied (or issued, with --wait 0), 1 failed or not issued, 2 bad options,
  3 no outcome within --wait (the command stays issued: x0 incidents commands shows it).`;

const actions = ["quarantine", "release", "rate-limit", "hop-penalty", "gateway", "restart-interface"] as const;
type Action = (typeof actions)[number];

const sourceOptions = ["mac", "ip", "prefix"] as const;
/** The options each action takes, besides the common ones. */
const actionOptions: Readonly<Record<Action, readonly string[]>> = {
  quarantine: sourceOptions,
  release: sourceOptions,
  "rate-limit": [...sourceOptions, "pps", "burst"],
  "hop-penalty": ["value", "hard-if"],
  gateway: ["mode", "sel-class", "down-kbps", "up-kbps"],
  "restart-interface": ["ifname"],
};

/** Where a schema issue's path points on the command line, and what a pattern there expects, in words. */
const optionOfPath: Readonly<Record<string, readonly [option: string, expected?: string]>> = {
  targetNodeId: ["--node", "a node id: 1-64 of A-Z a-z 0-9 _ -"],
  "action.value": ["--value"],
  "action.hardIf": ["--hard-if", "an interface name: 1-15 of A-Z a-z 0-9 _ . -"],
  "action.mode": ["--mode"],
  "action.selClass": ["--sel-class"],
  "action.downKbps": ["--down-kbps"],
  "action.upKbps": ["--up-kbps"],
  "action.source.mac": ["--mac", "a MAC address such as 02:00:00:00:00:01"],
  "action.source.address": ["--ip", "an IPv4 address such as 10.0.0.1"],
  "action.source.prefix": ["--prefix", "an IPv6 prefix such as fd00::/64"],
  "action.pps": ["--pps"],
  "action.burst": ["--burst"],
  "action.ifname": ["--ifname", "an interface name: 1-15 of A-Z a-z 0-9 _ . -"],
};

/** Node ids that would make a node's command subject read as an incident's or a fault's. */
const reservedNodeIds = new Set(["incident", "fault"]);

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1();

/** The command as the event schema accepts it, or a usage error naming the option at fault. */
const validated = (payload: unknown): HealingCommandIssued => {
  const result = Schema.decodeUnknownExit(HealingCommandIssued.schema)(payload, { errors: "all", onExcessProperty: "error" });
  if (Exit.isSuccess(result)) return result.value;
  const error = Cause.squash(result.cause);
  if (!Schema.isSchemaError(error)) throw error;
  const messages = new Set<string>();
  for (const issue of formatIssues(error.issue).issues) {
    const path = (issue.path ?? []).map((segment) => String(typeof segment === "object" ? segment.key : segment));
    const [option, expected] = optionOfPath[path.join(".")] ?? [];
    if (!option) {
      messages.add(`${path.length > 0 ? `${path.join(".")}: ` : ""}${issue.message}`);
      continue;
    }
    let given: unknown = payload;
    for (const key of path) given = (given as Record<string, unknown> | undefined)?.[key];
    const message = expected && issue.message.startsWith("Expected a string matching") ? `expected ${expected}` : issue.message;
    messages.add(`${option}: ${message}, got ${JSON.stringify(given)}`);
  }
  throw new UsageError([...messages].join("; "));
};

const integer = (name: string, value: string | undefined): number | undefined => {
  if (value === undefined) return undefined;
  if (!/^\d{1,12}$/u.test(value)) throw new UsageError(`--${name} must be a non-negative integer, got "${value}"`);
  return Number(value);
};

type Values = Readonly<Record<string, string | boolean | undefined>>;

/** The action the options describe; ranges and formats are left to the event schema. */
export const actionFrom = (action: Action, values: Values): HealingAction => {
  const text = (name: string) => values[name] as string | undefined;
  const required = (name: string) => {
    const value = text(name);
    if (value === undefined) throw new UsageError(`${action} needs --${name}`);
    return value;
  };
  const source = () => {
    const given = sourceOptions.filter((name) => text(name) !== undefined);
    if (given.length !== 1) throw new UsageError(`${action} takes one traffic source: --mac MAC, --ip A.B.C.D or --prefix P`);
    // batctl prints MACs and addresses lower-case; accept what an operator pastes from elsewhere.
    if (given[0] === "mac") return { kind: "mac" as const, mac: text("mac")!.toLowerCase() };
    if (given[0] === "ip") return { kind: "ipv4" as const, address: text("ip")! };
    return { kind: "ipv6-prefix" as const, prefix: text("prefix")!.toLowerCase() };
  };
  const optional = <K extends string, V>(key: K, value: V | undefined) => (value === undefined ? {} : ({ [key]: value } as { [P in K]: V }));
  switch (action) {
    case "quarantine":
    case "release":
      return { kind: action, source: source() };
    case "rate-limit":
      return { kind: action, source: source(), pps: integer("pps", required("pps"))!, burst: integer("burst", required("burst"))! };
    case "hop-penalty":
      return { kind: action, value: integer("value", required("value"))!, ...optional("hardIf", text("hard-if")) };
    case "gateway": {
      const mode = required("mode");
      if (mode !== "off" && mode !== "client" && mode !== "server") throw new UsageError(`--mode must be off, client or server, got "${mode}"`);
      if (mode !== "client" && text("sel-class") !== undefined) throw new UsageError("--sel-class applies to --mode client only");
      if (mode !== "server" && (text("down-kbps") !== undefined || text("up-kbps") !== undefined)) throw new UsageError("--down-kbps and --up-kbps apply to --mode server only");
      return {
        kind: action,
        mode,
        ...optional("selClass", integer("sel-class", text("sel-class"))),
        ...optional("downKbps", integer("down-kbps", text("down-kbps"))),
        ...optional("upKbps", integer("up-kbps", text("up-kbps"))),
      };
    }
    case "restart-interface":
      return { kind: action, ifname: required("ifname") };
  }
};

/** `$USER` made into a producer-id token, else `operator`. */
const defaultOperator = (): string => {
  const user = (process.env.USER ?? "").replace(/[^A-Za-z0-9_-]/gu, "-").slice(0, 55);
  return user.length > 0 ? user : "operator";
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const boundKey = async (kv: KV | undefined, producerId: string): Promise<ProducerKey | undefined> => {
  if (!kv) return undefined;
  try {
    const entry = await kv.get(producerId);
    return entry?.operation === "PUT" ? (decodeCbor(entry.value) as ProducerKey) : undefined;
  } catch {
    return undefined; // no bucket yet: nothing bound
  }
};

/** A refusal that is not a usage error: printed alone, exit code 1. */
class NotIssued extends Error {}

/**
 * Makes sure the control plane trusts the operator's key: enrols it on first use
 * (identity.ProducerEnrolled, role operator, signed by the key itself) and waits until the
 * identity projection has bound it in the `producers` bucket.
 */
const ensureEnrolled = async (nc: NatsConnection, store: EventStore, producer: Producer, timeoutMs: number): Promise<void> => {
  const { producerId, key } = producer;
  const kv = await new Kvm(nc).open("producers").catch(() => undefined);
  const check = (bound: ProducerKey | undefined) => {
    if (bound && bound.keyId !== key.keyId) {
      throw new NotIssued(`${producerId} is enrolled with key ${bound.keyId}, not with this key file's ${key.keyId}; use the key file that enrolled it, or another --operator name`);
    }
    return bound !== undefined;
  };
  if (check(await boundKey(kv, producerId))) return;
  await store.append(
    producer.seal(ProducerEnrolled, { producerId, publicKey: key.publicKey, role: "operator", description: "operator key of x0 heal" }, enrolmentSubject(producerId)),
  );
  process.stderr.write(`enrolling ${producerId} (key ${key.keyId}); waiting for the control plane to bind it\n`);
  const deadline = Date.now() + timeoutMs;
  // The bucket may appear only now, when the control plane starts.
  let bucket = kv;
  while (Date.now() < deadline) {
    bucket ??= await new Kvm(nc).open("producers").catch(() => undefined);
    if (check(await boundKey(bucket, producerId))) return;
    await sleep(200);
  }
  throw new NotIssued(
    `the control plane did not bind ${producerId}'s key within ${timeoutMs / 1000} s: the control plane (x0 up) must be running against this NATS server. The enrolment is stored; the command was not issued.`,
  );
};

/** A warning, not a refusal: a typo in --node otherwise only shows as a timeout. */
const warnIfUnknownNode = async (nc: NatsConnection, nodeId: string) => {
  try {
    const kb = await new Kvm(nc).open("kb");
    const entry = await kb.get(`node.${nodeId}`);
    if (!entry || entry.operation !== "PUT") process.stderr.write(`warning: the knowledge base has no node ${nodeId}; issuing the command anyway\n`);
  } catch {
    // no knowledge base to ask
  }
};

type Outcome = { readonly type: "heal.CommandApplied"; readonly data: CommandApplied } | { readonly type: "heal.CommandFailed"; readonly data: CommandFailed };

/** The first verified, authorized outcome of the command on the node's outcome subject after `afterSeq`, or undefined at the deadline. */
const awaitOutcome = async (nc: NatsConnection, command: HealingCommandIssued, afterSeq: number, waitMs: number): Promise<Outcome | undefined> => {
  const registry = await ProducerRegistry.open(nc, { follow: true });
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), waitMs);
  try {
    const roles = await replayIdentity(nc, registry);
    const subject = healOutcomeSubject(command.targetNodeId);
    for await (const event of readEvents(nc, { subject, start: { seq: afterSeq + 1 }, follow: true, signal: abort.signal, registry })) {
      const outcome = { type: event.meta?.type, data: event.payload } as Outcome;
      if (outcome.data?.commandId !== command.commandId) continue;
      const refusal = event.status !== "verified" ? `${event.status}: ${event.detail ?? ""}` : authorizeHealEvent(event.meta!, event.payload, roles);
      if (refusal) {
        process.stderr.write(`warning: ignored an outcome of this command at HEAL seq ${event.seq}: ${refusal}\n`);
        continue;
      }
      return outcome;
    }
    return undefined;
  } finally {
    clearTimeout(timer);
    registry.close();
  }
};

export const heal = async (argv: string[]): Promise<number> => {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      node: { type: "string" },
      operator: { type: "string" },
      wait: { type: "string" },
      "enrol-timeout": { type: "string" },
      "data-dir": { type: "string" },
      mac: { type: "string" },
      ip: { type: "string" },
      prefix: { type: "string" },
      pps: { type: "string" },
      burst: { type: "string" },
      value: { type: "string" },
      "hard-if": { type: "string" },
      mode: { type: "string" },
      "sel-class": { type: "string" },
      "down-kbps": { type: "string" },
      "up-kbps": { type: "string" },
      ifname: { type: "string" },
    },
    strict: true,
  });
  const [name, ...extra] = positionals;
  if (!name) throw new UsageError(`give an action: ${actions.join(", ")}`);
  if (!(actions as readonly string[]).includes(name)) throw new UsageError(`unknown action "${name}": ${actions.join(", ")}`);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const action = name as Action;
  const common = new Set(["node", "operator", "wait", "enrol-timeout", "data-dir"]);
  for (const option of Object.keys(values)) {
    if (!common.has(option) && !actionOptions[action].includes(option)) {
      throw new UsageError(`--${option} does not apply to ${action} (it takes ${actionOptions[action].map((o) => `--${o}`).join(", ")})`);
    }
  }
  if (values.node === undefined) throw new UsageError("--node is required: the node that must act");
  if (reservedNodeIds.has(values.node)) throw new UsageError(`--node ${values.node} is a reserved subject token, not a node id`);
  const operator = values.operator ?? defaultOperator();
  if (!/^[A-Za-z0-9_-]{1,55}$/u.test(operator)) throw new UsageError(`--operator must be 1-55 of A-Z a-z 0-9 _ -, got "${operator}"`);
  const waitSeconds = parseIntOption("wait", values.wait, 10);
  const enrolSeconds = parseIntOption("enrol-timeout", values["enrol-timeout"], 15, 1);
  const commandId = `op-${uuidv7()}`;
  const command = validated({ commandId, targetNodeId: values.node, action: actionFrom(action, values), issuedBy: "operator" });

  const dataDir = dataDirFrom(values["data-dir"]);
  const producerId = `operator-${operator}`;
  let key: SigningKey;
  try {
    key = await loadOrCreateSigningKey(join(dataDir, "keys", `${producerId}.key`));
  } catch (error) {
    process.stderr.write(`x0 heal: operator key: ${(error as Error).message}\n`);
    return 1;
  }
  const nc = await connectNats({ servers: await resolveServers(dataDir), name: "x0-heal" });
  try {
    const store = new EventStore(nc);
    const producer = new Producer(producerId, key);
    await ensureEnrolled(nc, store, producer, enrolSeconds * 1000);
    await warnIfUnknownNode(nc, command.targetNodeId);
    const { seq } = await store.append(producer.seal(HealingCommandIssued, command, healCommandSubject(command.targetNodeId), { correlationId: commandId }));
    process.stdout.write(`issued ${commandId} to ${command.targetNodeId}: ${describeAction(command.action)} (HEAL seq ${seq}, by ${producerId})\n`);
    if (waitSeconds === 0) return 0;
    const outcome = await awaitOutcome(nc, command, seq, waitSeconds * 1000);
    if (!outcome) {
      process.stdout.write(`no outcome from ${command.targetNodeId} within ${waitSeconds} s; the command stays issued (x0 incidents commands shows its outcome when the node answers)\n`);
      return 3;
    }
    if (outcome.type === "heal.CommandApplied") {
      process.stdout.write(`applied by ${command.targetNodeId} at ${new Date(outcome.data.appliedAt).toISOString()}: ${outcome.data.detail}\n`);
      return 0;
    }
    process.stdout.write(`failed on ${command.targetNodeId} at ${new Date(outcome.data.failedAt).toISOString()} (exit ${outcome.data.exitCode}): ${outcome.data.stderr}\n`);
    return 1;
  } catch (error) {
    if (!(error instanceof NotIssued)) throw error;
    process.stderr.write(`x0 heal: ${error.message}\n`);
    return 1;
  } finally {
    await nc.close();
  }
};
