// Public face of the identity context: key enrolment of producers that are not mesh nodes. Pure.
export { ProducerEnrolled, identityEvents, enrolmentSubject } from "./events.ts";
