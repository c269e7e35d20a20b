// Public face of the XDP edge: attach the filter to an interface, apply healing actions to its pinned maps, read its counters.
export { attachXdpFilter, detachXdpFilter, pinnedInterfaces, defaultObjectFile, DEFAULT_PIN_ROOT, EX_USAGE, EX_DATAERR, XdpFilter } from "./filter.ts";
export type { XdpMode, XdpFilterOptions, XdpAction, XdpOutcome, XdpCounters, XdpRule, PacketCount } from "./filter.ts";
export { encodeSource, sourceText } from "./maps.ts";
export type { XdpSource } from "./maps.ts";
export { xdpAvailability } from "./availability.ts";
export type { XdpAvailability } from "./availability.ts";
export { XdpUnavailableError, XdpCommandError, InvalidSourceError } from "./errors.ts";
