import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["{domains,streams,projections,adapters,test}/**/*.test.ts"],
    exclude: ["node_modules/**", "test/bench/**"],
    // Integration tests each start their own nats-server; two cores cannot run many at once.
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
