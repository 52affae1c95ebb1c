import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // End-to-end files each start their own server processes and browsers; two cores do not gain from more.
    fileParallelism: true,
    maxWorkers: 2,
    minWorkers: 1,
    reporters: ["default", "./test/summaryReporter.ts"],
  },
});
