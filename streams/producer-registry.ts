import { Kvm, KvWatchInclude, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { decodeCbor, encodeCbor } from "./envelope.ts";
import { keyIdOf } from "./keys.ts";

export interface ProducerKey {
  readonly producerId: string;
  readonly keyId: string;
  readonly publicKey: Uint8Array;
  /** Where the key was introduced: stream and sequence of the announcing event. */
  readonly introducedAt: { readonly stream: string; readonly seq: number };
}

/**
 * Producer id → public key, trust on first use: the first verified self-signed announcement
 * binds a producer's key; a later announcement with another key is refused (key-mismatch).
 * Kept in memory, persisted in the KV bucket `producers` at each projection checkpoint.
 */
export class ProducerRegistry {
  private readonly keys = new Map<string, ProducerKey>();
  private readonly dirty = new Set<string>();

  private constructor(
    private readonly kv: KV | undefined,
    private readonly base?: ProducerRegistry,
  ) {}

  /** A registry that lives only in memory (replay into memory, tests of pure logic). */
  static inMemory(): ProducerRegistry {
    return new ProducerRegistry(undefined);
  }

  /**
   * A reader's view of a live registry: it sees every key the live one binds, the moment it
   * binds it, and keys it learns itself stay its own (a reader never changes what projections trust).
   */
  static overlay(base: ProducerRegistry): ProducerRegistry {
    return new ProducerRegistry(undefined, base);
  }

  /**
   * Loads the `producers` bucket. With `follow`, keys other processes bind later (a control
   * plane enrolling after this process started) arrive too, until `close()`.
   */
  static async open(nc: NatsConnection, options: { replicas?: number; follow?: boolean } = {}): Promise<ProducerRegistry> {
    const kv = await new Kvm(nc).create("producers", { history: 1, replicas: options.replicas ?? 1 });
    const registry = new ProducerRegistry(kv);
    // Watch before listing: a key bound between the listing and the watch's start would
    // otherwise be missed for good. A key seen both ways is set once (first binding wins).
    if (options.follow) {
      const watch = await kv.watch({ include: KvWatchInclude.UpdatesOnly });
      registry.stopFollowing = () => watch.stop();
      void (async () => {
        for await (const entry of watch) {
          if (entry.operation !== "PUT" || registry.keys.has(entry.key)) continue;
          try {
            registry.keys.set(entry.key, decodeCbor(entry.value) as ProducerKey);
          } catch {
            // A value this version cannot read: the key stays unknown and its events are quarantined.
          }
        }
      })().catch(() => undefined);
    }
    for await (const key of await kv.keys()) {
      if (registry.keys.has(key)) continue;
      const entry = await kv.get(key);
      if (!entry || entry.operation !== "PUT") continue;
      registry.keys.set(key, decodeCbor(entry.value) as ProducerKey);
    }
    return registry;
  }

  private stopFollowing: (() => void) | undefined;

  /** Stops following the bucket (see `open`). */
  close(): void {
    this.stopFollowing?.();
    this.stopFollowing = undefined;
  }

  get(producerId: string): ProducerKey | undefined {
    return this.keys.get(producerId) ?? this.base?.get(producerId);
  }

  get size(): number {
    return this.keys.size;
  }

  introduce(producerId: string, publicKey: Uint8Array, introducedAt: ProducerKey["introducedAt"]): ProducerKey {
    const existing = this.get(producerId);
    if (existing) return existing;
    const key: ProducerKey = { producerId, keyId: keyIdOf(publicKey), publicKey: new Uint8Array(publicKey), introducedAt };
    this.keys.set(producerId, key);
    this.dirty.add(producerId);
    return key;
  }

  /** Writes keys introduced since the last flush. */
  async flush(): Promise<void> {
    if (!this.kv || this.dirty.size === 0) return;
    const kv = this.kv;
    const ids = [...this.dirty];
    this.dirty.clear();
    try {
      await Promise.all(ids.map((id) => kv.put(id, encodeCbor(this.keys.get(id)))));
    } catch (error) {
      for (const id of ids) this.dirty.add(id); // written again on the retry
      throw error;
    }
  }
}
