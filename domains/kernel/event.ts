import * as Schema from "effect/Schema";

/**
 * A domain event type: its wire name, schema version and payload schema.
 * The payload schema is the single source of truth: it decodes CBOR payloads,
 * validates HTTP input and feeds the OpenAPI document.
 */
export interface EventDefinition<Name extends string = string, S extends Schema.Top = Schema.Top> {
  /** Wire name, `<context>.<PastTenseVerb>`, e.g. `mesh.NodeAnnounced`. */
  readonly type: Name;
  /** Schema version of the payload; bumped on an incompatible change. */
  readonly version: number;
  readonly schema: S;
  /** Largest payload accepted for this type, in bytes (default 16 KiB). */
  readonly maxPayloadBytes: number;
}

export const defineEvent = <const Name extends string, S extends Schema.Top>(
  type: Name,
  schema: S,
  options: { readonly version?: number; readonly maxPayloadBytes?: number } = {},
): EventDefinition<Name, S> => ({
  type,
  version: options.version ?? 1,
  schema,
  maxPayloadBytes: options.maxPayloadBytes ?? 16 * 1024,
});

export type PayloadOf<D> = D extends EventDefinition<string, infer S> ? S["Type"] : never;

/** A node or producer id: one NATS subject token (no dots, wildcards or spaces). */
export const ProducerId = Schema.String.pipe(
  Schema.check(Schema.isPattern(/^[A-Za-z0-9_-]{1,64}$/u, { description: "1-64 of A-Z a-z 0-9 _ -" })),
);

/** A MAC address as batctl prints it: lower-case, colon separated. */
export const MacAddress = Schema.String.pipe(
  Schema.check(Schema.isPattern(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/u, { description: "MAC address aa:bb:cc:dd:ee:ff" })),
);

// Built on Finite: telemetry is never NaN or Infinity, and the JSON Schema keeps its bounds.
export const NonNegativeInt = Schema.Finite.pipe(Schema.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0)));
export const NonNegative = Schema.Finite.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(0)));
export const Fraction = Schema.Finite.pipe(Schema.check(Schema.isBetween({ minimum: 0, maximum: 1 })));
