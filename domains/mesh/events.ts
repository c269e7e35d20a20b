import * as Schema from "effect/Schema";
import { defineEvent, Fraction, MacAddress, NonNegative, NonNegativeInt, ProducerId } from "../kernel/index.ts";

/** Raw Ed25519 public key, 32 bytes. */
const Ed25519PublicKey = Schema.Uint8Array.pipe(Schema.check(Schema.isMinLength(32), Schema.isMaxLength(32)));

/**
 * A node joins (or re-joins) the mesh and introduces the key it signs with.
 * Trust on first use: the first announcement of a node id binds its key;
 * the event is signed by that same key (proof of possession).
 * Hardware/software fields follow Freifunk respondd `nodeinfo`.
 */
export const NodeAnnounced = defineEvent(
  "mesh.NodeAnnounced",
  Schema.Struct({
    nodeId: ProducerId,
    publicKey: Ed25519PublicKey,
    hostname: Schema.optionalKey(Schema.String),
    /** batman-adv originator address of this node (`orig_address` as others see it). */
    primaryMac: MacAddress,
    /** MACs of the node's hard interfaces, so neighbours' `neigh_address` resolves to this node. */
    macs: Schema.Array(MacAddress),
    hardware: Schema.Struct({
      model: Schema.optionalKey(Schema.String),
      nproc: Schema.optionalKey(NonNegativeInt),
    }),
    software: Schema.Struct({
      firmware: Schema.optionalKey(Schema.String),
      batmanAdv: Schema.optionalKey(Schema.String),
      x0: Schema.optionalKey(Schema.String),
    }),
    location: Schema.optionalKey(
      Schema.Struct({
        latitude: Schema.Finite.pipe(Schema.check(Schema.isBetween({ minimum: -90, maximum: 90 }))),
        longitude: Schema.Finite.pipe(Schema.check(Schema.isBetween({ minimum: -180, maximum: 180 }))),
      }),
    ),
  }),
);

/** Liveness beacon; `uptime` in seconds as respondd reports it. */
export const HeartbeatSent = defineEvent(
  "mesh.HeartbeatSent",
  Schema.Struct({
    nodeId: ProducerId,
    uptime: NonNegative,
  }),
  { maxPayloadBytes: 1024 },
);

/**
 * One neighbour as the node sees it. Field names and units follow batctl's JSON
 * (`batctl meshif bat0 nj` / `oj`): `tq` 0-255, `throughput` in kbit/s (BATMAN_V),
 * `last_seen_msecs`. `loss` (0-1) and `latency_ms` are measured by the node agent.
 */
export const LinkSample = Schema.Struct({
  neigh_address: MacAddress,
  hard_ifname: Schema.optionalKey(Schema.String),
  tq: NonNegativeInt.pipe(Schema.check(Schema.isLessThanOrEqualTo(255))),
  last_seen_msecs: NonNegativeInt,
  throughput: Schema.optionalKey(NonNegative),
  loss: Fraction,
  latency_ms: NonNegative,
});
export type LinkSample = typeof LinkSample.Type;

/** The node's current link table: every neighbour in one event per reporting interval. */
export const LinkMetricsReported = defineEvent(
  "mesh.LinkMetricsReported",
  Schema.Struct({
    nodeId: ProducerId,
    links: Schema.Array(LinkSample).pipe(Schema.check(Schema.isMaxLength(256))),
  }),
  // 256 full link entries are ~33 KB: a gateway with 160 neighbours must fit.
  { maxPayloadBytes: 40 * 1024 },
);

/** The XDP filter's counters on one interface of a node (`adapters/xdp`), packets and bytes since it was attached. */
export const XdpInterfaceCounters = Schema.Struct({
  iface: Schema.String.pipe(Schema.check(Schema.isMaxLength(15))),
  passed_packets: NonNegativeInt,
  passed_bytes: NonNegativeInt,
  dropped_block_packets: NonNegativeInt,
  dropped_block_bytes: NonNegativeInt,
  dropped_rate_packets: NonNegativeInt,
  dropped_rate_bytes: NonNegativeInt,
  /** Quarantine and rate-limit rules in place. */
  rules: NonNegativeInt,
});

const Tq = NonNegativeInt.pipe(Schema.check(Schema.isLessThanOrEqualTo(255)));

/**
 * The node's batman-adv settings and gateway table, named as batctl prints them (`mj`, `hj`,
 * `gwj`): what healing commands change, so their effect can be checked from events.
 */
export const BatmanState = Schema.Struct({
  algo_name: Schema.optionalKey(Schema.String),
  orig_interval: Schema.optionalKey(NonNegativeInt),
  hop_penalty: Schema.optionalKey(Tq),
  gw_mode: Schema.optionalKey(Schema.String),
  hard_interfaces: Schema.Array(
    Schema.Struct({ hard_ifname: Schema.String, active: Schema.Boolean, hop_penalty: Schema.optionalKey(Tq) }),
  ).pipe(Schema.check(Schema.isMaxLength(32))),
  /** Gateways this node knows (as a gateway client); bandwidth in units of 100 kbit/s as batman-adv keeps it. */
  gateways: Schema.Array(
    Schema.Struct({
      orig_address: MacAddress,
      router: MacAddress,
      best: Schema.Boolean,
      tq: Schema.optionalKey(Tq),
      throughput: Schema.optionalKey(NonNegativeInt),
      bandwidth_down: Schema.optionalKey(NonNegativeInt),
      bandwidth_up: Schema.optionalKey(NonNegativeInt),
    }),
  ).pipe(Schema.check(Schema.isMaxLength(64))),
});

/** Node resource and traffic counters, after respondd `statistics`. Memory in KiB, traffic in bytes. */
export const NodeMetricsReported = defineEvent(
  "mesh.NodeMetricsReported",
  Schema.Struct({
    nodeId: ProducerId,
    cpu: Fraction,
    loadavg: NonNegative,
    memory: Schema.Struct({ total: NonNegativeInt, available: NonNegativeInt }),
    traffic: Schema.Struct({
      rx_bytes: NonNegativeInt,
      tx_bytes: NonNegativeInt,
      forward_bytes: NonNegativeInt,
      mgmt_rx_bytes: NonNegativeInt,
      mgmt_tx_bytes: NonNegativeInt,
    }),
    clients: Schema.optionalKey(NonNegativeInt),
    /** A node agent's XDP filters, one entry per filtered interface. */
    xdp: Schema.optionalKey(Schema.Array(XdpInterfaceCounters).pipe(Schema.check(Schema.isMaxLength(16)))),
    /** A node agent's batman-adv state. */
    batman: Schema.optionalKey(BatmanState),
  }),
  // A gateway client in a large mesh lists up to 64 gateways: ~6 KB.
  { maxPayloadBytes: 8192 },
);

export const meshEvents = [NodeAnnounced, HeartbeatSent, LinkMetricsReported, NodeMetricsReported] as const;

export type NodeAnnounced = typeof NodeAnnounced.schema.Type;
export type HeartbeatSent = typeof HeartbeatSent.schema.Type;
export type LinkMetricsReported = typeof LinkMetricsReported.schema.Type;
export type NodeMetricsReported = typeof NodeMetricsReported.schema.Type;

/** Subject kinds on `mesh.<nodeId>.<kind>`, one per event type. */
export const meshSubjectKind = {
  "mesh.NodeAnnounced": "announced",
  "mesh.HeartbeatSent": "heartbeat",
  "mesh.LinkMetricsReported": "links",
  "mesh.NodeMetricsReported": "metrics",
} as const;

export const meshSubject = (nodeId: string, type: keyof typeof meshSubjectKind): string =>
  `mesh.${nodeId}.${meshSubjectKind[type]}`;
