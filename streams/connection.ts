import { connect, type NatsConnection } from "@nats-io/transport-node";

/** Servers from `NATS_URL`: one URL or several separated by commas (a cluster's seed list). */
export const serversFromEnv = (value = process.env.NATS_URL): string[] | undefined => {
  const servers = value
    ?.split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  return servers && servers.length > 0 ? servers : undefined;
};

export interface ConnectOptions {
  /** Server URLs. Default: `NATS_URL`. */
  readonly servers: string | readonly string[];
  /** Connection name shown by the server's monitoring. Default `x0`. */
  readonly name?: string;
}

/** Connects and keeps reconnecting for ever: a control plane outlives a server restart. */
export const connectNats = (options: ConnectOptions): Promise<NatsConnection> =>
  connect({
    servers: typeof options.servers === "string" ? options.servers : [...options.servers],
    name: options.name ?? "x0",
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
  });
