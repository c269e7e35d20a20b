import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import * as Result from "effect/Result";
import { Counter, Gauge } from "prom-client";
import {
  AUDITED_STREAMS,
  CHECKPOINT_SUBJECT,
  CheckpointSigned,
  checkpointHash,
  equalHashes,
  HASH_BYTES,
  signCheckpoint,
  toHex,
  verifyCheckpointLink,
  verifyCheckpointSignature,
  windowRanges,
  type AuditedStream,
  type Checkpoint,
  type Hash,
  type StreamRange,
} from "../../domains/audit/index.ts";
import { enrolmentSubject, ProducerEnrolled } from "../../domains/identity/index.ts";
import { systemClock, type Clock } from "../../streams/clock.ts";
import { decodeCbor, encodeCbor } from "../../streams/envelope.ts";
import { ExpectedVersionConflictError } from "../../streams/errors.ts";
import { EventStore, type Producer } from "../../streams/event-store.ts";
import { keyIdOf } from "../../streams/keys.ts";
import { log } from "../../streams/log.ts";
import { metricsRegistry } from "../../streams/metrics.ts";
import type { ProducerRegistry } from "../../streams/producer-registry.ts";
import { AuditedStreams, type Bounds } from "./audited-streams.ts";
import { chainEnd, getChainEntry, readChain, type ChainEntry } from "./chain.ts";
import { LeafCopies, type LeafCopiesOptions } from "./leaf-copies.ts";
import { TreeStore } from "./tree-store.ts";

export interface AuditorOptions {
  /** The auditor's identity and Ed25519 key (x0 up: producer `auditor`, key `<data-dir>/keys/auditor.key`). */
  readonly producer: Producer;
  /** Bound producer keys: other auditors' checkpoints verify with their enrolled keys. */
  readonly registry: ProducerRegistry;
  /** KV bucket of the tree state; each auditor keeps its own keys under `<producerId>.`. Default `audit`. */
  readonly bucket?: string;
  /** Replicas of the bucket: 1 on one server, 3 on a cluster. Default 1. */
  readonly replicas?: number;
  /** Sign a checkpoint once this many leaves wait (N), and never put more in one. Default 100,000. */
  readonly checkpointEvery?: number;
  /** ...or once this long has passed since the last checkpoint with at least one leaf waiting (T), ms. Default 60,000. */
  readonly checkpointIntervalMs?: number;
  /** How often the streams' ends are looked at, ms. Default 1,000. */
  readonly pollMs?: number;
  /** Memory for node hashes before least recently used chunks are dropped (they reload from KV). Default 1 GiB. */
  readonly maxResidentBytes?: number;
  /** Hash leaves on a worker thread. Default true. */
  readonly hashWorker?: boolean;
  /**
   * Keep local copies of the audited messages in `dir`, so that inclusion proofs read their event
   * from disk rather than from nats-server (leaf-copies.ts, ADR 0013). Default: none.
   */
  readonly copies?: LeafCopiesOptions & { readonly dir: string };
  /** Enrol the auditor's key on IDENTITY (role auditor) when it is not bound yet. Default true. */
  readonly enrol?: boolean;
  readonly clock?: Clock;
}

/** The streams do not hold what a signed checkpoint says they held: the auditor stops signing. */
export class AuditDivergenceError extends Error {
  override readonly name = "AuditDivergenceError";
  constructor(
    readonly checkpoint: number,
    message: string,
  ) {
    super(message);
  }
}

/** The last checkpoint of the chain this auditor has checked and continues. */
export interface ChainHead {
  readonly number: number;
  readonly checkpoint: Checkpoint;
  readonly hash: Hash;
}

interface PersistedState {
  readonly version: 1;
  readonly size: number;
  readonly blocks: number;
  readonly lastSequence: Record<string, number>;
  readonly head: number;
  readonly end: number;
}

const zeroSequences = (): Record<AuditedStream, number> => Object.fromEntries(AUDITED_STREAMS.map((s) => [s, 0])) as Record<AuditedStream, number>;

const metric = <T>(name: string, make: () => T): T => (metricsRegistry.getSingleMetric(name) as T | undefined) ?? make();
const treeSizeGauge = metric("x0_audit_tree_size", () => new Gauge({ name: "x0_audit_tree_size", help: "Leaves in the audit tree at the last checkpoint", registers: [metricsRegistry] }));
const checkpointsCounter = metric(
  "x0_audit_checkpoints_total",
  () =>
    new Counter({
      name: "x0_audit_checkpoints_total",
      help: "Checkpoints the auditor signed, adopted from another auditor, lost a race for, or ignored as invalid",
      labelNames: ["result"] as const,
      registers: [metricsRegistry],
    }),
) as Counter<"result">;

/** Splits `budget` leaves among the streams' pending counts, smallest needs first (each gets a fair share). */
const allocate = (pending: Record<AuditedStream, number>, budget: number): Record<AuditedStream, number> => {
  const out = zeroSequences();
  let left = budget;
  let active = AUDITED_STREAMS.filter((s) => pending[s] > 0).sort((a, b) => pending[a] - pending[b]);
  while (left > 0 && active.length > 0) {
    const share = Math.max(1, Math.floor(left / active.length));
    const next: AuditedStream[] = [];
    for (const stream of active) {
      const take = Math.min(share, pending[stream] - out[stream], left);
      out[stream] += take;
      left -= take;
      if (pending[stream] > out[stream]) next.push(stream);
      if (left === 0) break;
    }
    active = next;
  }
  return out;
};

/**
 * The audit projection: appends one leaf per stored message of MESH, HEAL, FL, GOV and IDENTITY
 * (verified or not: the log records what is stored, so nothing can be taken out unnoticed) and
 * signs a checkpoint every N leaves or T seconds, appended to AUDIT with the chain's last
 * sequence as the expected one, so that two auditors never fork the chain: the one that loses
 * the race drops its window, checks and adopts the winner's checkpoint, and continues from it.
 *
 * Leaf order (what `verify` reproduces from the streams alone): checkpoint by checkpoint, for
 * each stream in AUDITED_STREAMS order, its messages after the previous checkpoint's last
 * sequence up to this one's (`windowRanges`). The tree and the leaf index persist in KV, so a
 * restart continues where the last checkpoint left off.
 */
export class Auditor {
  private readonly clock: Clock;
  private readonly every: number;
  private readonly intervalMs: number;
  private readonly store: EventStore;
  private jsm: JetStreamManager | undefined;
  private js: JetStreamClient | undefined;
  private kv: KV | undefined;
  private streams: AuditedStreams | undefined;
  private tree: TreeStore;
  private copies: LeafCopies | undefined;
  private lastSequence = zeroSequences();
  private chainHead: ChainHead | undefined;
  /** AUDIT sequence of the last message on the chain subject this auditor has looked at. */
  private end = 0;
  private startedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private stopping = false;
  private failure: Error | undefined;
  /** First time an entry's key was found unknown, so an unknown key is waited for, but not for ever. */
  private unknownKeySince = new Map<number, number>();
  readonly stats = { signed: 0, adopted: 0, conflicts: 0, ignored: 0 };

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: AuditorOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.every = Math.max(1, options.checkpointEvery ?? 100_000);
    this.intervalMs = options.checkpointIntervalMs ?? 60_000;
    this.store = new EventStore(nc);
    this.tree = new TreeStore(this.prefix, this.storeOptions);
  }

  private get prefix(): string {
    return this.options.producer.producerId;
  }

  private get storeOptions() {
    return this.options.maxResidentBytes === undefined ? {} : { maxResidentBytes: this.options.maxResidentBytes };
  }

  /** The tree with every node hash, for proofs (read it between awaits only). */
  get hashes(): TreeStore {
    return this.tree;
  }

  /** The local copies of the audited messages, when kept (`copies`). */
  get leafCopies(): LeafCopies | undefined {
    return this.copies;
  }

  /** The KV bucket chunks reload from. */
  get bucket(): KV | undefined {
    return this.kv;
  }

  /** The last checkpoint this auditor checked or signed. */
  get head(): ChainHead | undefined {
    return this.chainHead;
  }

  get keyId(): string {
    return this.options.producer.key.keyId;
  }

  get publicKey(): Uint8Array {
    return this.options.producer.key.publicKey;
  }

  get producerId(): string {
    return this.options.producer.producerId;
  }

  /** The public key behind an auditor key id: this auditor's, or another's bound on IDENTITY. */
  auditorKey(keyId: string, producerId: string | undefined): { readonly producerId: string; readonly publicKey: Uint8Array } | undefined {
    if (keyId === this.keyId) return { producerId: this.producerId, publicKey: this.publicKey };
    const bound = producerId === undefined ? undefined : this.options.registry.get(producerId);
    if (bound && bound.keyId === keyId && bound.introducedAt.stream === "IDENTITY") return { producerId: bound.producerId, publicKey: bound.publicKey };
    return undefined;
  }

  /** Why the auditor stopped signing, when it did (the streams diverged from a signed checkpoint). */
  get error(): Error | undefined {
    return this.failure;
  }

  /**
   * Restores the tree and enrols the key; then, in the background, catches up with the chain
   * (checkpoints appended since the tree was stored) and checkpoints every N leaves or T ms.
   * `settle()` waits for the catching up; proofs answer 503 until the auditor has a checkpoint.
   */
  async start(): Promise<void> {
    this.jsm = await jetstreamManager(this.nc);
    this.js = jetstream(this.nc);
    this.kv = await new Kvm(this.nc).create(this.options.bucket ?? "audit", { history: 1, replicas: this.options.replicas ?? 1 });
    this.streams = await AuditedStreams.open(this.nc, { hashWorker: this.options.hashWorker ?? true });
    await this.restore();
    if (this.options.copies) {
      const { dir, ...options } = this.options.copies;
      this.copies = await LeafCopies.open(dir, this.tree.size, options);
    }
    if (this.options.enrol !== false) await this.enrol();
    this.startedAt = this.clock.now();
    this.enqueue(() => this.tick());
    this.timer = setInterval(() => this.enqueue(() => this.tick()), this.options.pollMs ?? 1_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    await this.chain;
    await this.streams?.close();
    await this.copies?.close();
  }

  /** Signs a checkpoint of what waits now (at most N leaves), whatever T says; resolves with its number, if any. */
  checkpointNow(): Promise<number | undefined> {
    let made: number | undefined;
    this.enqueue(async () => {
      await this.sync();
      made = await this.checkpoint(await this.streams!.bounds());
    });
    return this.chain.then(() => {
      if (this.failure) throw this.failure;
      return made;
    });
  }

  /** Resolves once the auditor has caught up with the chain and the streams as they are now (tests, x0 up at stop). */
  async settle(): Promise<void> {
    this.enqueue(() => this.tick(true));
    await this.chain;
    if (this.failure) throw this.failure;
  }

  private enqueue(step: () => Promise<void>): void {
    this.chain = this.chain.then(step).catch((error: Error) => {
      if (error instanceof AuditDivergenceError) {
        this.failure = error;
        if (this.timer) clearInterval(this.timer);
        log.error("audit: the streams diverge from a signed checkpoint; the auditor stops signing (run x0 audit verify)", { error: error.message });
        return;
      }
      log.warn("audit: step failed; retrying at the next poll", { error: error.message });
    });
  }

  private async tick(force = false): Promise<void> {
    if (this.failure || (this.stopping && !force)) return;
    await this.sync();
    for (;;) {
      const bounds = await this.streams!.bounds();
      const pending = this.pending(bounds);
      const total = AUDITED_STREAMS.reduce((n, s) => n + pending[s], 0);
      if (total === 0) return;
      const since = this.clock.now() - (this.chainHead?.checkpoint.time ?? this.startedAt);
      if (!force && total < this.every && since < this.intervalMs) return;
      const made = await this.checkpoint(bounds);
      if (made === undefined && !force) return;
      if (this.stopping && !force) return;
    }
  }

  private pending(bounds: Bounds): Record<AuditedStream, number> {
    const out = zeroSequences();
    for (const s of AUDITED_STREAMS) out[s] = Math.max(0, bounds[s].lastSeq - this.lastSequence[s]);
    return out;
  }

  /** Reads one window into the tree: the leaves of `ranges`, in order. Returns their count. */
  private async appendWindow(ranges: readonly StreamRange[], bounds: Bounds): Promise<number> {
    await this.copies?.begin(this.tree.size);
    const read = await this.streams!.read(ranges, bounds, this.copies);
    const { hashes } = await read.hashed;
    const { origins } = read;
    for (let i = 0; i < origins.count; i++) {
      this.tree.append(hashes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES), origins.streams[i]!, origins.seqs[i]!);
    }
    await this.copies?.flush();
    return origins.count;
  }

  /** Back to the last checkpoint (a window that was not signed into the chain). */
  private async rollback(): Promise<void> {
    await this.tree.truncate(this.chainHead?.checkpoint.treeSize ?? 0, this.kv);
    await this.copies?.truncate(this.tree.size);
    this.lastSequence = { ...zeroSequences(), ...(this.chainHead?.checkpoint.lastSequence ?? {}) };
  }

  /** Makes, signs and appends one checkpoint; undefined when nothing waits or another auditor won the race. */
  private async checkpoint(bounds: Bounds): Promise<number | undefined> {
    const pending = this.pending(bounds);
    const take = allocate(pending, this.every);
    const target = { ...this.lastSequence };
    for (const s of AUDITED_STREAMS) target[s] += take[s];
    const ranges = windowRanges(this.lastSequence, target);
    if (ranges.length === 0) return undefined;
    await this.appendWindow(ranges, bounds);
    const previous = this.chainHead;
    const checkpoint = signCheckpoint(
      { treeSize: this.tree.size, rootHash: this.tree.root(), previousHash: previous ? previous.hash : null, lastSequence: target, time: this.clock.now() },
      this.options.producer.key,
    );
    const event = this.options.producer.seal(CheckpointSigned, { ...checkpoint, frontier: this.tree.frontier() }, CHECKPOINT_SUBJECT);
    let number: number;
    try {
      number = (await this.store.append(event, { expectedLastSubjectSequence: this.end })).seq;
    } catch (error) {
      await this.rollback();
      if (error instanceof ExpectedVersionConflictError) {
        this.stats.conflicts++;
        checkpointsCounter.inc({ result: "lost-race" });
        log.info("audit: another auditor appended a checkpoint first; adopting it", { expected: this.end });
        await this.sync();
        return undefined;
      }
      // The append may have happened (a lost acknowledgement): the next sync finds it and checks it like any other.
      throw error;
    }
    this.end = number;
    this.lastSequence = target;
    this.chainHead = { number, checkpoint, hash: checkpointHash(checkpoint) };
    this.stats.signed++;
    checkpointsCounter.inc({ result: "signed" });
    treeSizeGauge.set(checkpoint.treeSize);
    log.debug("audit: checkpoint signed", { number, treeSize: checkpoint.treeSize, root: toHex(checkpoint.rootHash) });
    await this.persist();
    return number;
  }

  /** Adopts every checkpoint appended since the last one this auditor saw, each checked against the streams. */
  private async sync(): Promise<void> {
    const end = await chainEnd(this.jsm!);
    if (end <= this.end) return;
    for await (const entry of readChain(this.js!, this.jsm!, this.end + 1)) {
      const adopted = await this.adopt(entry);
      if (adopted === "wait") return;
      this.end = entry.number;
    }
    await this.persist();
  }

  /** The public key an entry must be signed with: this auditor's, or another enrolled one's. */
  private keyFor(entry: ChainEntry): Uint8Array | undefined {
    return this.auditorKey(entry.checkpoint!.auditorKeyId, entry.producerId)?.publicKey;
  }

  private ignore(entry: ChainEntry, why: string): "ignored" {
    this.stats.ignored++;
    checkpointsCounter.inc({ result: "ignored" });
    log.error("audit: a message on the chain subject is not a valid checkpoint; ignored (x0 audit verify names it)", { number: entry.number, why });
    return "ignored";
  }

  private async adopt(entry: ChainEntry): Promise<"adopted" | "ignored" | "wait"> {
    const checkpoint = entry.checkpoint;
    if (!checkpoint || entry.problem) return this.ignore(entry, entry.problem ?? "no checkpoint");
    const key = this.keyFor(entry);
    if (!key) {
      const since = this.unknownKeySince.get(entry.number) ?? this.clock.now();
      this.unknownKeySince.set(entry.number, since);
      // The identity projection may not have bound a new auditor's enrolment yet.
      if (this.clock.now() - since < 30_000) return "wait";
      return this.ignore(entry, `signed by auditor key ${checkpoint.auditorKeyId} of ${entry.producerId ?? "?"}, which is not an enrolled key`);
    }
    this.unknownKeySince.delete(entry.number);
    const signed = verifyCheckpointSignature(checkpoint, key);
    if (Result.isFailure(signed)) return this.ignore(entry, signed.failure.message);
    const linked = verifyCheckpointLink(this.chainHead?.checkpoint, checkpoint);
    if (Result.isFailure(linked)) return this.ignore(entry, linked.failure.message);
    if (this.tree.size !== (this.chainHead?.checkpoint.treeSize ?? 0)) await this.rollback();
    const bounds = await this.streams!.bounds();
    await this.appendWindow(windowRanges(this.lastSequence, checkpoint.lastSequence), bounds);
    if (this.tree.size !== checkpoint.treeSize || !equalHashes(this.tree.root(), checkpoint.rootHash)) {
      const message =
        `checkpoint ${entry.number} (tree size ${checkpoint.treeSize}, root ${toHex(checkpoint.rootHash)}) does not match the streams: ` +
        `they give ${this.tree.size} leaves with root ${toHex(this.tree.root())}`;
      await this.rollback();
      throw new AuditDivergenceError(entry.number, message);
    }
    this.lastSequence = { ...zeroSequences(), ...checkpoint.lastSequence };
    this.chainHead = { number: entry.number, checkpoint, hash: checkpointHash(checkpoint) };
    this.stats.adopted++;
    checkpointsCounter.inc({ result: "adopted" });
    treeSizeGauge.set(checkpoint.treeSize);
    return "adopted";
  }

  private stateKey(): string {
    return `${this.prefix}.state`;
  }

  /** Writes changed chunks, then the state that names them (a crash in between re-reads a window). */
  private async persist(): Promise<void> {
    const kv = this.kv!;
    await this.tree.persist(kv);
    const state: PersistedState = {
      version: 1,
      size: this.tree.shape.size,
      blocks: this.tree.shape.blocks,
      lastSequence: this.lastSequence,
      head: this.chainHead?.number ?? 0,
      end: this.end,
    };
    await kv.put(this.stateKey(), encodeCbor(state));
  }

  private async restore(): Promise<void> {
    const kv = this.kv!;
    const entry = await kv.get(this.stateKey());
    if (!entry || entry.operation !== "PUT") return;
    const state = decodeCbor(entry.value) as PersistedState;
    if (state.version !== 1 || state.head === 0) return;
    const head = await getChainEntry(this.jsm!, state.head);
    const tree = await TreeStore.load(kv, this.prefix, { size: state.size, blocks: state.blocks }, this.storeOptions);
    if (!head?.checkpoint || head.checkpoint.treeSize !== tree.size || !equalHashes(head.checkpoint.rootHash, tree.root())) {
      // The stored tree does not match the checkpoint it names: rebuild from the chain (re-reads the streams).
      log.warn("audit: stored tree state does not match its checkpoint; rebuilding from the chain", { checkpoint: state.head });
      return;
    }
    this.tree = tree;
    this.lastSequence = { ...zeroSequences(), ...head.checkpoint.lastSequence };
    this.chainHead = { number: head.number, checkpoint: head.checkpoint, hash: checkpointHash(head.checkpoint) };
    this.end = Math.max(state.end, head.number);
    treeSizeGauge.set(tree.size);
  }

  /** Enrols the auditor's key (role auditor) unless the registry already binds it. */
  private async enrol(): Promise<void> {
    const { producer, registry } = this.options;
    const bound = registry.get(producer.producerId);
    if (bound && bound.keyId === producer.key.keyId) return;
    if (bound) {
      throw new Error(`producer id ${producer.producerId} is bound to key ${bound.keyId}, not the auditor's key ${producer.key.keyId}: use the original key file or another auditor id`);
    }
    await this.store.append(
      producer.seal(ProducerEnrolled, { producerId: producer.producerId, publicKey: producer.key.publicKey, role: "auditor", description: "x0 audit log auditor" }, enrolmentSubject(producer.producerId)),
    );
    log.info("audit: auditor key enrolled", { producer: producer.producerId, keyId: keyIdOf(producer.key.publicKey) });
  }
}
