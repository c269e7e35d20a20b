/**
 * Runs the batman-adv lab once by hand and prints what happened in it (the same scenario that
 * test/kernel/batman.test.ts asserts on):
 *
 *   node adapters/cli/run-ts.js test/kernel/batman-lab-cli.ts [--keep]
 *
 * --keep leaves the bundle, the guest's logs and result.json in the printed directory.
 * Exit code 0 when the guest's scenario completed, 1 otherwise.
 */
import { parseArgs } from "node:util";
import { runBatmanLab } from "./batman-lab.ts";
import { umlAvailability } from "./uml.ts";
import { prepareXdp } from "./veth-lab.ts";

const { values } = parseArgs({ options: { keep: { type: "boolean", default: false } } });
const uml = umlAvailability();
if (!uml.available) {
  console.error(`lab:batman: cannot run: ${uml.reason}`);
  process.exit(1);
}
await prepareXdp().catch(() => undefined);
const run = await runBatmanLab({ keep: values.keep });
for (const step of run.result?.steps ?? []) console.log(JSON.stringify(step));
console.log(`guest ran ${(run.boot.elapsedMs / 1000).toFixed(1)} s (exit ${run.boot.exitCode}${run.boot.timedOut ? ", timed out" : ""})${values.keep ? `; files in ${run.dir}` : ""}`);
if (!run.result?.ok) {
  console.error(run.result?.error ?? "the guest wrote no result");
  console.error(`--- guest log\n${run.guestLog.slice(-3000)}\n--- driver log\n${run.driverLog.slice(-3000)}\n--- console\n${run.boot.console.slice(-2000)}`);
  process.exit(1);
}
