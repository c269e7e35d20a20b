export { EnrolledProducers } from "./model.ts";
export type { EnrolledProducer, EnrolmentEnvelope, ProducerRole, RoleSource } from "./model.ts";
export { IdentityProjection } from "./projection.ts";
export type { IdentityProjectionOptions } from "./projection.ts";
