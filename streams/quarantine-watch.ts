import type { NatsConnection } from "@nats-io/transport-node";
import { Header } from "./envelope.ts";

/** What a live watcher learns of one refused event. */
export interface QuarantinedEvent {
  readonly subject: string;
  /** The producer the refused event claimed to come from (unverified). */
  readonly producerId: string | undefined;
  /** Its claimed occurrence time, epoch ms, when readable. */
  readonly occurredAt: number | undefined;
  readonly reason: string | undefined;
}

/**
 * Watches refused events as they are quarantined, on a plain subscription to the quarantine
 * subjects (e.g. `quarantine.MESH.bad-signature`): the healing loop counts bad signatures per
 * claimed producer. Live only; the QUARANTINE stream keeps the records for replay.
 * Returns a function that stops the watch.
 */
export const watchQuarantine = async (nc: NatsConnection, subject: string, onEvent: (event: QuarantinedEvent) => void): Promise<() => void> => {
  const sub = nc.subscribe(subject, {
    callback: (error, msg) => {
      if (error) return;
      const h = msg.headers;
      const occurred = h?.get(Header.occurredAt);
      const at = occurred ? Date.parse(occurred) : NaN;
      onEvent({
        subject: msg.subject,
        producerId: h?.get(Header.producerId) || undefined,
        occurredAt: Number.isFinite(at) ? at : undefined,
        reason: h?.get("X0-Quarantine-Reason") || undefined,
      });
    },
  });
  await nc.flush();
  return () => sub.unsubscribe();
};
