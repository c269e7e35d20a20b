import * as Schema from "effect/Schema";

/** XDP cannot be used here: not root, no bpftool, no bpffs, the program not built. `message` says which and how to fix it. */
export class XdpUnavailableError extends Schema.TaggedError<XdpUnavailableError>()("XdpUnavailableError", {
  message: Schema.String,
}) {}

/** A bpftool or ip command failed while loading, attaching, detaching or reading the filter. */
export class XdpCommandError extends Schema.TaggedError<XdpCommandError>()("XdpCommandError", {
  message: Schema.String,
  command: Schema.String,
  exitCode: Schema.Number,
  stderr: Schema.String,
}) {}

/** A traffic source that cannot be a map key (malformed MAC, address or prefix). */
export class InvalidSourceError extends Schema.TaggedError<InvalidSourceError>()("InvalidSourceError", {
  message: Schema.String,
}) {}
