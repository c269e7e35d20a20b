import { describe, expect, it } from "vitest";
import { OPACUS_RDP_ACCOUNTANT_TEST } from "../../../domains/fl/privacy/rdp-reference.ts";
import { UsageError } from "../options.ts";
import { flEpsilon } from "./fl-epsilon.ts";

const run = async (argv: string[]) => {
  let out = "";
  const code = await flEpsilon(argv, { stdout: { write: (text: string) => (out += text) } });
  return { code, out };
};

describe("x0 fl epsilon", () => {
  it("prints Opacus's published ε for its test mechanism, alone on one line, and exits 0", async () => {
    const { noiseMultiplier, sampleRate, steps, delta, epsilon } = OPACUS_RDP_ACCOUNTANT_TEST;
    const { code, out } = await run(["--noise", String(noiseMultiplier), "--sample-rate", String(sampleRate), "--steps", String(steps), "--delta", String(delta)]);
    expect(code).toBe(0);
    expect(out).toMatch(/^\d+\.\d+\n$/);
    expect(Math.abs(Number(out) - epsilon)).toBeLessThanOrEqual(1e-6);
  });

  it("accepts --option=value and exponent notation", async () => {
    const { out } = await run(["--noise=1.5", "--sample-rate=4e-2", "--steps=2250", "--delta=1e-5"]);
    expect(Math.abs(Number(out) - OPACUS_RDP_ACCOUNTANT_TEST.epsilon)).toBeLessThanOrEqual(1e-6);
  });

  it.each([
    ["a missing option", ["--noise", "1", "--sample-rate", "0.1", "--steps", "10"]],
    ["noise 0", ["--noise", "0", "--sample-rate", "0.1", "--steps", "10", "--delta", "1e-5"]],
    ["negative noise", ["--noise=-1", "--sample-rate", "0.1", "--steps", "10", "--delta", "1e-5"]],
    ["noise that is not a number", ["--noise", "lots", "--sample-rate", "0.1", "--steps", "10", "--delta", "1e-5"]],
    ["sample rate 0", ["--noise", "1", "--sample-rate", "0", "--steps", "10", "--delta", "1e-5"]],
    ["sample rate above 1", ["--noise", "1", "--sample-rate", "1.5", "--steps", "10", "--delta", "1e-5"]],
    ["zero steps", ["--noise", "1", "--sample-rate", "0.1", "--steps", "0", "--delta", "1e-5"]],
    ["fractional steps", ["--noise", "1", "--sample-rate", "0.1", "--steps", "2.5", "--delta", "1e-5"]],
    ["delta 1", ["--noise", "1", "--sample-rate", "0.1", "--steps", "10", "--delta", "1"]],
    ["delta 0", ["--noise", "1", "--sample-rate", "0.1", "--steps", "10", "--delta", "0"]],
    ["a stray argument", ["--noise", "1", "--sample-rate", "0.1", "--steps", "10", "--delta", "1e-5", "extra"]],
  ])("refuses %s with a usage error", async (_, argv) => {
    await expect(run(argv)).rejects.toThrow(UsageError);
  });

  it("refuses an unknown option (exit 2 through the CLI's parse-error path)", async () => {
    await expect(run(["--noise", "1", "--sample-rate", "0.1", "--steps", "10", "--delta", "1e-5", "--orders", "2"])).rejects.toMatchObject({ code: "ERR_PARSE_ARGS_UNKNOWN_OPTION" });
  });
});
