import * as Schema from "effect/Schema";

/** The subject's last sequence was not the one the writer expected (optimistic concurrency). */
export class ExpectedVersionConflictError extends Schema.TaggedError<ExpectedVersionConflictError>()(
  "ExpectedVersionConflictError",
  {
    subject: Schema.String,
    expectedSequence: Schema.Number,
    message: Schema.String,
    cause: Schema.optionalKey(Schema.Unknown),
  },
) {}

/** JetStream refused or failed an append for another reason (no stream, timeout, limits). */
export class AppendError extends Schema.TaggedError<AppendError>()("AppendError", {
  subject: Schema.String,
  message: Schema.String,
  cause: Schema.optionalKey(Schema.Unknown),
}) {}

/** Why an event was refused; each reason is a label on the quarantine metric. */
export const QuarantineReason = Schema.Literals([
  "oversized",
  "malformed-envelope",
  "unknown-type",
  "malformed-payload",
  "schema-violation",
  "unknown-producer",
  "key-mismatch",
  "bad-signature",
  "unauthorized",
  "duplicate",
]);
export type QuarantineReason = typeof QuarantineReason.Type;

/** An event that could not be accepted; carried to the QUARANTINE stream. */
export class EventRejectedError extends Schema.TaggedError<EventRejectedError>()("EventRejectedError", {
  reason: QuarantineReason,
  message: Schema.String,
}) {}

/** nats-server was not found or did not become ready. */
export class NatsServerError extends Schema.TaggedError<NatsServerError>()("NatsServerError", {
  message: Schema.String,
  cause: Schema.optionalKey(Schema.Unknown),
}) {}

/** The streams' byte limits do not fit the server's JetStream store. */
export class StorageBudgetError extends Schema.TaggedError<StorageBudgetError>()("StorageBudgetError", {
  message: Schema.String,
  cause: Schema.optionalKey(Schema.Unknown),
}) {}
