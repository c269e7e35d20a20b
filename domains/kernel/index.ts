export { defineEvent, Fraction, MacAddress, NonNegative, NonNegativeInt, ProducerId } from "./event.ts";
export type { EventDefinition, PayloadOf } from "./event.ts";
export { mixSeed, Rng } from "./rng.ts";
