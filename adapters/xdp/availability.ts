/**
 * Whether this process can load the XDP filter, and if not, exactly why: kernel tests and the
 * benchmark skip with this reason (and fail with it in CI, where XDP must work).
 */
import { existsSync } from "node:fs";
import { binaries, runCommand } from "./commands.ts";
import { defaultObjectFile, ensureBpffs, DEFAULT_PIN_ROOT } from "./filter.ts";

export type XdpAvailability = { readonly available: true } | { readonly available: false; readonly reason: string };

export const xdpAvailability = async (objectFile = defaultObjectFile()): Promise<XdpAvailability> => {
  const no = (reason: string): XdpAvailability => ({ available: false, reason });
  if (process.platform !== "linux") return no(`XDP needs Linux; this is ${process.platform}`);
  if (process.getuid?.() !== 0) return no("loading XDP programs and creating network namespaces needs root; run as root");
  for (const [name, bin] of [["bpftool", binaries.bpftool()], ["ip", binaries.ip()], ["nsenter", binaries.nsenter()]] as const) {
    const probe = await runCommand(bin, name === "ip" ? ["-V"] : ["--version"]);
    if (probe.exitCode !== 0) return no(`${name} does not run (${probe.stderr.trim() || `exit ${probe.exitCode}`}); run \`npm run setup\``);
  }
  try {
    await ensureBpffs(process.env.X0_BPF_PIN_ROOT ?? DEFAULT_PIN_ROOT);
  } catch (error) {
    return no(`no bpf filesystem: ${(error as Error).message}`);
  }
  if (!existsSync(objectFile)) return no(`XDP object ${objectFile} is not built; run \`npm run build:ebpf\` (needs clang: \`npm run setup\`)`);
  return { available: true };
};
