import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Two cores: two workers keep the machine busy without starving the emulators.
    maxWorkers: 2,
    reporters: ["default", "./test/support/summary-reporter.ts"],
    projects: [
      { extends: true, test: { name: "unit", include: ["test/unit/**/*.test.ts"] } },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          globalSetup: ["test/support/global-setup.ts"],
          testTimeout: 60_000,
          hookTimeout: 240_000,
        },
      },
      {
        extends: true,
        test: {
          // The packaged CloudFormation and function bundles, checked offline.
          name: "deploy",
          include: ["test/deploy/**/*.test.ts"],
          globalSetup: ["test/support/packaging-setup.ts"],
          testTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          // The packaged stack deployed on ministack, real devices over mutual TLS.
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          globalSetup: ["test/support/e2e-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
