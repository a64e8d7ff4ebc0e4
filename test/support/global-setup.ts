import { spawnSync } from "node:child_process";
import type { TestProject } from "vitest/node";
import { type MotoServer, startMotoServer } from "#local/moto-server.js";

/** Integration tests share one moto server; each test file keeps to its own table, CA and ids. */
let moto: MotoServer | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const pythonEnv = spawnSync(process.execPath, ["scripts/python-env.mjs"], { stdio: "inherit" });
  if (pythonEnv.status !== 0)
    throw new Error("scripts/python-env.mjs failed: the integration tests need moto");
  moto = await startMotoServer();
  project.provide("motoEndpoint", moto.endpoint);
  return async () => {
    await moto?.stop();
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    motoEndpoint: string;
  }
}
