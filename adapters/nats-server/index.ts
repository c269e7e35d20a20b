export { INSTALL_HINT, natsServerVersion, startNatsServer } from "./launcher.ts";
export type { NatsServerOptions, RunningNatsServer } from "./launcher.ts";
