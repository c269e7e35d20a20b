/**
 * batctl's JSON tables (`batctl meshif <bat> oj | nj | gwj | hj | mj`, batctl >= 2021.1) as typed
 * rows. Pure: no I/O.
 *
 * batctl prints each netlink attribute it knows under a fixed name (its `genl_json.c`), in
 * attribute order, and leaves out attributes the kernel did not send: `tq` exists only under
 * BATMAN_IV, `throughput` only under BATMAN_V, `best` and `active` only when set. Rows are
 * decoded one by one: a field this version does not know is ignored, and a row that lacks a
 * field this adapter needs is skipped and reported, never a reason to drop the whole table.
 */
import * as Cause from "effect/Cause";
import * as Exit from "effect/Exit";
import * as Schema from "effect/Schema";
import { MacAddress, NonNegativeInt } from "../../domains/kernel/index.ts";
import { BatctlOutputError } from "./errors.ts";

const Tq = NonNegativeInt.pipe(Schema.check(Schema.isLessThanOrEqualTo(255)));
/** batctl prints flag attributes (`best`, `active`) as `true` when present and omits them otherwise. */
const Flag = Schema.optionalKey(Schema.Boolean);

/** One (originator, neighbour) pair of `oj`: how `orig_address` is reached through `neigh_address`. */
export const OriginatorRow = Schema.Struct({
  orig_address: MacAddress,
  neigh_address: MacAddress,
  hard_ifindex: Schema.optionalKey(NonNegativeInt),
  hard_ifname: Schema.optionalKey(Schema.String),
  /** Since the last OGM of the originator through this neighbour. */
  last_seen_msecs: NonNegativeInt,
  /** This neighbour is the chosen next hop (router) towards the originator. */
  best: Flag,
  /** BATMAN_IV: transmit quality of the path through this neighbour, 0-255. */
  tq: Schema.optionalKey(Tq),
  /** BATMAN_V: path throughput, kbit/s. */
  throughput: Schema.optionalKey(NonNegativeInt),
});
export type OriginatorRow = typeof OriginatorRow.Type;

/** One direct neighbour of `nj`, per hard interface it is heard on. */
export const NeighbourRow = Schema.Struct({
  neigh_address: MacAddress,
  hard_ifindex: Schema.optionalKey(NonNegativeInt),
  hard_ifname: Schema.optionalKey(Schema.String),
  last_seen_msecs: NonNegativeInt,
  /** BATMAN_V: estimated link throughput, kbit/s. */
  throughput: Schema.optionalKey(NonNegativeInt),
});
export type NeighbourRow = typeof NeighbourRow.Type;

/** One gateway of `gwj` as this node (a gateway client) sees it. */
export const GatewayRow = Schema.Struct({
  orig_address: MacAddress,
  /** The next hop towards the gateway. */
  router: MacAddress,
  hard_ifindex: Schema.optionalKey(NonNegativeInt),
  hard_ifname: Schema.optionalKey(Schema.String),
  /** The gateway this node currently uses. */
  best: Flag,
  tq: Schema.optionalKey(Tq),
  throughput: Schema.optionalKey(NonNegativeInt),
  /** Advertised bandwidth, in units of 100 kbit/s (batman-adv's netlink unit). */
  bandwidth_down: Schema.optionalKey(NonNegativeInt),
  bandwidth_up: Schema.optionalKey(NonNegativeInt),
});
export type GatewayRow = typeof GatewayRow.Type;

/** One hard interface of `hj`: a batman-adv port of the mesh interface. */
export const HardInterfaceRow = Schema.Struct({
  hard_ifname: Schema.String,
  hard_ifindex: Schema.optionalKey(NonNegativeInt),
  hard_address: Schema.optionalKey(MacAddress),
  mesh_ifname: Schema.optionalKey(Schema.String),
  /** Sends and receives OGMs (up, with carrier); absent while waiting for its link. */
  active: Flag,
  /** Per-interface hop penalty (batman-adv 2020.3+), 0-255. */
  hop_penalty: Schema.optionalKey(Tq),
});
export type HardInterfaceRow = typeof HardInterfaceRow.Type;

/** The mesh interface's settings, `mj` (one object, not a table). */
export const MeshSettings = Schema.Struct({
  version: Schema.optionalKey(Schema.String),
  algo_name: Schema.optionalKey(Schema.String),
  mesh_ifname: Schema.optionalKey(Schema.String),
  mesh_address: Schema.optionalKey(MacAddress),
  /** The primary hard interface: its address is this node's originator address. */
  hard_ifname: Schema.optionalKey(Schema.String),
  hard_address: Schema.optionalKey(MacAddress),
  orig_interval: Schema.optionalKey(NonNegativeInt),
  hop_penalty: Schema.optionalKey(Tq),
  gw_mode: Schema.optionalKey(Schema.String),
  gw_sel_class: Schema.optionalKey(NonNegativeInt),
  /** Gateway server bandwidth, units of 100 kbit/s. */
  gw_bandwidth_down: Schema.optionalKey(NonNegativeInt),
  gw_bandwidth_up: Schema.optionalKey(NonNegativeInt),
  bridge_loop_avoidance_enabled: Schema.optionalKey(Schema.Boolean),
});
export type MeshSettings = typeof MeshSettings.Type;

/** A row batctl printed that this adapter could not use, and why. */
export interface SkippedRow {
  readonly index: number;
  readonly reason: string;
}

export interface Table<Row> {
  readonly rows: readonly Row[];
  readonly skipped: readonly SkippedRow[];
}

const parseJson = (table: string, text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new BatctlOutputError({ table, message: `batctl ${table} did not print JSON: ${(error as Error).message}`, output: text.slice(0, 512) });
  }
};

const reasonOf = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause);
  return (error instanceof Error ? error.message : String(error)).split("\n").slice(0, 4).join(" ").slice(0, 300);
};

const decodeTable = <S extends Schema.Codec<unknown, unknown>>(table: string, schema: S, text: string): Table<S["Type"]> => {
  const json = parseJson(table, text);
  if (!Array.isArray(json)) throw new BatctlOutputError({ table, message: `batctl ${table} printed ${typeof json}, not a JSON array`, output: text.slice(0, 512) });
  const decode = Schema.decodeUnknownExit(schema);
  const rows: S["Type"][] = [];
  const skipped: SkippedRow[] = [];
  json.forEach((row, index) => {
    const result = decode(row);
    if (Exit.isSuccess(result)) rows.push(result.value);
    else skipped.push({ index, reason: reasonOf(result.cause) });
  });
  return { rows, skipped };
};

/** `batctl meshif <bat> oj`. */
export const parseOriginators = (text: string): Table<OriginatorRow> => decodeTable("oj", OriginatorRow, text);
/** `batctl meshif <bat> nj`. */
export const parseNeighbours = (text: string): Table<NeighbourRow> => decodeTable("nj", NeighbourRow, text);
/** `batctl meshif <bat> gwj`. */
export const parseGateways = (text: string): Table<GatewayRow> => decodeTable("gwj", GatewayRow, text);
/** `batctl meshif <bat> hj` (an array), or `batctl hardif <if> hj` (one object, returned as one row). */
export const parseHardInterfaces = (text: string): Table<HardInterfaceRow> => {
  const trimmed = text.trim();
  return decodeTable("hj", HardInterfaceRow, trimmed.startsWith("{") ? `[${trimmed}]` : trimmed);
};

/** `batctl meshif <bat> mj`. */
export const parseMeshSettings = (text: string): MeshSettings => {
  const json = parseJson("mj", text);
  const result = Schema.decodeUnknownExit(MeshSettings)(json);
  if (Exit.isSuccess(result)) return result.value;
  throw new BatctlOutputError({ table: "mj", message: `batctl mj printed an unexpected object: ${reasonOf(result.cause)}`, output: text.slice(0, 512) });
};

/**
 * `batctl meshif <bat> statistics`: one `name: value` per line (the mesh interface's ethtool
 * counters: tx_bytes, forward_bytes, mgmt_rx_bytes ...). Lines of another shape are ignored.
 */
export const parseStatistics = (text: string): ReadonlyMap<string, number> => {
  const counters = new Map<string, number>();
  for (const line of text.split("\n")) {
    const match = /^\s*([a-z0-9_]+):\s*(\d+)\s*$/u.exec(line);
    if (match) counters.set(match[1]!, Number(match[2]));
  }
  return counters;
};
