/**
 * A User-Mode Linux guest for kernel features this host's kernel lacks (batman-adv): Debian's
 * `user-mode-linux` (kernel 6.1 with its modules in /usr/lib/uml/modules) booted with the host
 * filesystem as its read-only root (hostfs), so host binaries (node, nats-server, batctl, ip,
 * bpftool) run inside. The guest gets a writable tmpfs on /run and one host directory mounted
 * read-write for its results. No root is needed on the host to boot it; the guest is root in
 * itself.
 *
 * Node programs in the guest run from an esbuild bundle: each system call costs far more under
 * UML, and loading the CLI's ~900 modules one by one took 12 s there against about 1 s for one
 * bundled file.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { findBinary } from "../../adapters/xdp/commands.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
export const UML_MODULES = process.env.X0_UML_MODULES ?? "/usr/lib/uml/modules";

export type UmlAvailability =
  | { readonly available: true; readonly linux: string; readonly kernel: string }
  | { readonly available: false; readonly reason: string };

/** Whether a UML guest with batman-adv can boot here, and if not, why. */
export const umlAvailability = (): UmlAvailability => {
  const no = (reason: string): UmlAvailability => ({ available: false, reason });
  if (process.platform !== "linux" || process.arch !== "x64") return no(`User-Mode Linux needs Linux on x86-64; this is ${process.platform}/${process.arch}`);
  const linux = findBinary("linux", "X0_UML_LINUX");
  if (!existsSync(linux)) return no("no User-Mode Linux kernel (`linux`): run `npm run setup` (Debian package user-mode-linux)");
  const kernels = existsSync(UML_MODULES) ? readdirSync(UML_MODULES) : [];
  const kernel = kernels.find((k) => existsSync(join(UML_MODULES, k, "kernel/net/batman-adv/batman-adv.ko")));
  if (!kernel) return no(`no batman-adv module for User-Mode Linux under ${UML_MODULES}: run \`npm run setup\``);
  if (!existsSync(findBinary("batctl", "X0_BATCTL"))) return no("no batctl: run `npm run setup` (Debian package batctl)");
  return { available: true, linux, kernel };
};

export interface BundleEntry {
  /** Output file name inside the bundle directory, e.g. `x0.mjs`. */
  readonly name: string;
  /** TypeScript source of the entry module; relative imports resolve from the repository root. */
  readonly source: string;
}

/**
 * Bundles `entries` with esbuild (tsx's own dependency) into `dir`, one ESM file each, with
 * the verify worker beside them (the bundle keeps `new URL("./verify-worker.js", import.meta.url)`).
 */
export const bundleForGuest = async (dir: string, entries: readonly BundleEntry[]): Promise<void> => {
  const esbuild = await import("esbuild");
  await mkdir(dir, { recursive: true });
  for (const entry of entries) {
    await esbuild.build({
      stdin: { contents: entry.source, resolveDir: REPO, loader: "ts", sourcefile: entry.name.replace(/\.mjs$/u, ".ts") },
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      outfile: join(dir, entry.name),
      external: ["sodium-native"],
      // Bundled CommonJS dependencies call require(): give the ESM bundle one.
      banner: { js: 'import { createRequire as __x0CreateRequire } from "node:module"; const require = __x0CreateRequire(import.meta.url);' },
      logLevel: "error",
    });
  }
  await copyFile(join(REPO, "streams/verify-worker.js"), join(dir, "verify-worker.js"));
};

export interface BootOptions {
  readonly linux: string;
  /** Shell lines run as the guest's init after the common mounts; the guest powers off after them. */
  readonly script: string;
  /** Host directory mounted read-write at /run/out in the guest. */
  readonly outDir: string;
  /** Where the init script and UML's runtime files go. */
  readonly workDir: string;
  /** Guest memory. Default 1536 MiB. */
  readonly memoryMb?: number;
  /** The guest is killed after this long. Default 240 000 ms. */
  readonly timeoutMs?: number;
}

export interface BootResult {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly elapsedMs: number;
  /** The guest console (kernel messages and whatever the script did not redirect), last 64 KiB. */
  readonly console: string;
}

/**
 * Boots the guest, runs `script` as its init (after mounting /proc, /sys, a tmpfs /run, bpffs,
 * the UML modules as /run/modroot/lib/modules and `outDir` on /run/out) and waits for it to power off.
 */
export const bootUml = async (options: BootOptions): Promise<BootResult> => {
  await mkdir(options.workDir, { recursive: true });
  const init = join(options.workDir, "init.sh");
  await writeFile(
    init,
    `#!/bin/sh
# Init of the x0tta6bl4 UML guest (generated by test/kernel/uml.ts).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/run/home TMPDIR=/run/tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/tmp /run/home /run/netns /run/out /run/modroot/lib/modules
mount -t bpf bpf /sys/fs/bpf
mount --bind ${UML_MODULES} /run/modroot/lib/modules
mount -t hostfs none /run/out -o ${options.outDir}
modprobe_() { modprobe -d /run/modroot "$@"; }
ip link set dev lo up
${options.script}
poweroff -f
`,
    { mode: 0o755 },
  );
  const started = Date.now();
  const args = [
    `mem=${options.memoryMb ?? 1536}M`,
    "rootfstype=hostfs",
    "rootflags=/",
    "ro",
    `init=${init}`,
    `uml_dir=${options.workDir}`,
    "quiet",
    "con=null",
    "con0=fd:0,fd:1",
  ];
  return new Promise<BootResult>((resolve, reject) => {
    // Its own process group: UML runs guest processes as host processes, all killed together on a timeout.
    const child = spawn(options.linux, args, { stdio: ["ignore", "pipe", "pipe"], cwd: options.workDir, detached: true });
    let console = "";
    const keep = (d: Buffer) => {
      console = (console + d.toString()).slice(-64 * 1024);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    }, options.timeoutMs ?? 240_000);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("exit", (exitCode, signal) => {
      clearTimeout(timer);
      resolve({ exitCode, signal, timedOut, elapsedMs: Date.now() - started, console });
    });
  });
};
