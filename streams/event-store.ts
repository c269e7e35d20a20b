import { JetStreamApiCodes, JetStreamApiError, jetstream, type JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { EventDefinition } from "../domains/kernel/index.ts";
import { sealEvent, toHeaders, type SealOptions, type SealedEvent } from "./envelope.ts";
import { AppendError, ExpectedVersionConflictError } from "./errors.ts";
import type { Clock } from "./clock.ts";
import type { SigningKey } from "./keys.ts";

export interface AppendOptions {
  /**
   * Optimistic concurrency: the stream sequence of the last event on this subject the writer saw
   * (0 = the subject must be empty). A mismatch fails with ExpectedVersionConflictError.
   * Default: no expectation.
   */
  readonly expectedLastSubjectSequence?: number;
  /** Publish acknowledgement timeout. Default 5 000 ms. */
  readonly timeoutMs?: number;
}

export interface AppendResult {
  readonly stream: string;
  /** Stream sequence of the event (of the first copy when `duplicate`). */
  readonly seq: number;
  /** The server had already stored an event with this id inside its duplicate window. */
  readonly duplicate: boolean;
}

/** Appends signed events to JetStream. The only writer of domain events. */
export class EventStore {
  readonly js: JetStreamClient;

  constructor(readonly nc: NatsConnection) {
    this.js = jetstream(nc);
  }

  async append(event: SealedEvent, options: AppendOptions = {}): Promise<AppendResult> {
    const { subject } = event.meta;
    try {
      const ack = await this.js.publish(subject, event.payload, {
        headers: toHeaders(event.meta),
        timeout: options.timeoutMs ?? 5_000,
        ...(options.expectedLastSubjectSequence === undefined
          ? {}
          : { expect: { lastSubjectSequence: options.expectedLastSubjectSequence } }),
      });
      return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
    } catch (error) {
      if (
        error instanceof JetStreamApiError &&
        error.code === JetStreamApiCodes.StreamWrongLastSequence &&
        options.expectedLastSubjectSequence !== undefined
      ) {
        throw new ExpectedVersionConflictError({
          subject,
          expectedSequence: options.expectedLastSubjectSequence,
          message: `${subject}: expected last sequence ${options.expectedLastSubjectSequence}; ${error.message}`,
          cause: error,
        });
      }
      throw new AppendError({ subject, message: `append to ${subject} failed: ${(error as Error).message}`, cause: error });
    }
  }
}

/** A producer identity that seals events with its own key: a node, the control plane, an operator. */
export class Producer {
  constructor(
    readonly producerId: string,
    readonly key: SigningKey,
    readonly clock?: Clock,
  ) {}

  seal<D extends EventDefinition>(
    definition: D,
    payload: D["schema"]["Type"],
    subject: string,
    options: Omit<SealOptions, "subject" | "key" | "producerId" | "clock"> = {},
  ): SealedEvent {
    return sealEvent(definition, payload, {
      ...options,
      subject,
      key: this.key,
      producerId: this.producerId,
      ...(this.clock ? { clock: this.clock } : {}),
    });
  }
}
