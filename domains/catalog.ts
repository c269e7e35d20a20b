import { auditEvents } from "./audit/index.ts";
import { chaosEvents } from "./chaos/index.ts";
import { flEvents } from "./fl/index.ts";
import { healEvents } from "./healing/index.ts";
import { identityEvents, ProducerEnrolled } from "./identity/index.ts";
import type { EventDefinition } from "./kernel/index.ts";
import { meshEvents, NodeAnnounced } from "./mesh/index.ts";

/** Every event type the platform knows, by wire name. */
export const eventCatalog: ReadonlyMap<string, EventDefinition> = new Map(
  [...meshEvents, ...healEvents, ...chaosEvents, ...identityEvents, ...auditEvents, ...flEvents].map((d) => [d.type, d as EventDefinition]),
);

/** Event types that introduce their producer's key (trust on first use), and where the key is. */
export const keyIntroductions: Readonly<Record<string, (payload: unknown) => Uint8Array>> = {
  [NodeAnnounced.type]: (payload) => (payload as typeof NodeAnnounced.schema.Type).publicKey,
  [ProducerEnrolled.type]: (payload) => (payload as typeof ProducerEnrolled.schema.Type).publicKey,
};
