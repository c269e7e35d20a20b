/** The one logger: human-readable lines on stderr, or JSON lines with X0_LOG_FORMAT=json. Never logs secrets. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const threshold = order[(process.env.X0_LOG_LEVEL as LogLevel) ?? "info"] ?? order.info;
const json = process.env.X0_LOG_FORMAT === "json";

const write = (level: LogLevel, message: string, fields: Record<string, unknown> = {}) => {
  if (order[level] < threshold) return;
  const time = new Date().toISOString();
  if (json) {
    process.stderr.write(`${JSON.stringify({ time, level, message, ...fields })}\n`);
    return;
  }
  const extra = Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  process.stderr.write(`${time} ${level.toUpperCase().padEnd(5)} ${message}${extra ? ` ${extra}` : ""}\n`);
};

export const log = {
  debug: (message: string, fields?: Record<string, unknown>) => write("debug", message, fields),
  info: (message: string, fields?: Record<string, unknown>) => write("info", message, fields),
  warn: (message: string, fields?: Record<string, unknown>) => write("warn", message, fields),
  error: (message: string, fields?: Record<string, unknown>) => write("error", message, fields),
};
