import { spawnSync } from "node:child_process";
import type { TestProject } from "vitest/node";
import { type LocalStack, startLocalStack } from "#local/local-stack.js";

/** End-to-end tests share one local AWS with the packaged stack deployed on it; each file keeps to its own CA and ids. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const pythonEnv = spawnSync(process.execPath, ["scripts/python-env.mjs", "ministack"], {
    stdio: "inherit",
  });
  if (pythonEnv.status !== 0)
    throw new Error("scripts/python-env.mjs ministack failed: the end-to-end tests need ministack");
  const { stop, ...stack } = await startLocalStack();
  project.provide("localStack", stack);
  return stop;
}

declare module "vitest" {
  export interface ProvidedContext {
    localStack: LocalStack;
  }
}
