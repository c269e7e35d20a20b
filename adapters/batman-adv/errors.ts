import * as Schema from "effect/Schema";

/** batctl printed something that is not the table asked for (not JSON, not an array, a malformed settings object). */
export class BatctlOutputError extends Schema.TaggedError<BatctlOutputError>()("BatctlOutputError", {
  /** The query: `oj`, `nj`, `gwj`, `hj`, `mj`. */
  table: Schema.String,
  message: Schema.String,
  /** The start of what batctl printed. */
  output: Schema.String,
}) {}

/** A batctl query failed: no batctl, no such mesh interface, batman-adv not loaded. */
export class BatctlCommandError extends Schema.TaggedError<BatctlCommandError>()("BatctlCommandError", {
  message: Schema.String,
  command: Schema.String,
  exitCode: Schema.Number,
  stderr: Schema.String,
}) {}
