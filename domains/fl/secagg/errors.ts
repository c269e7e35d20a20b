import * as Schema from "effect/Schema";

/** The protocol's stages, named after the round that runs in them (consistency check omitted, see index.ts). */
export const SecAggStage = Schema.Literals(["advertise-keys", "share-keys", "masked-input", "unmasking"]);
export type SecAggStage = typeof SecAggStage.Type;

/** A configuration no party can run: bad threshold, vector length, ids. Thrown by the constructors. */
export class SecAggConfigError extends Schema.TaggedError<SecAggConfigError>()("SecAggConfigError", {
  message: Schema.String,
}) {}

/**
 * The server ended the aggregation: too few clients remained for the threshold at a stage, or a
 * dropped client's mask key could not be reconstructed from the shares (inconsistent shares).
 */
export class SecAggAborted extends Schema.TaggedError<SecAggAborted>()("SecAggAborted", {
  stage: SecAggStage,
  reason: Schema.Literals(["too-few-clients", "reconstruction-failed"]),
  /** The threshold t. */
  needed: Schema.Number,
  /** Clients that took part in the stage. */
  available: Schema.Number,
  message: Schema.String,
}) {}

/** The server did not accept a message; its state is unchanged. */
export class SecAggMessageRejected extends Schema.TaggedError<SecAggMessageRejected>()("SecAggMessageRejected", {
  stage: Schema.String,
  client: Schema.String,
  reason: Schema.Literals(["wrong-session", "wrong-stage", "unknown-client", "duplicate", "malformed", "not-requested"]),
  message: Schema.String,
}) {}

/**
 * A client would not answer. For "wrong-session", "wrong-stage" and "wrong-length" (a message
 * meant for another session or stage, a local caller's mistake) its state is unchanged; for every
 * other reason the server or a peer broke the protocol and the client has aborted the session.
 */
export class SecAggRefused extends Schema.TaggedError<SecAggRefused>()("SecAggRefused", {
  client: Schema.String,
  stage: Schema.String,
  reason: Schema.Literals([
    "wrong-session",
    "wrong-stage",
    "wrong-length",
    "too-few-clients",
    "directory-mismatch",
    "duplicate-keys",
    "bad-public-key",
    "bad-share-box",
    "both-shares-requested",
    "not-a-partition",
    "not-a-survivor",
    "conflicting-request",
  ]),
  message: Schema.String,
}) {}
