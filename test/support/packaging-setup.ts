import { spawnSync } from "node:child_process";
import { join } from "node:path";

/**
 * Packages the service once for the deployment tests, offline: the production template (stage dev,
 * into .serverless, as `npm run package` does) and the local stage's (the one deployed on the local
 * AWS), which those tests compare with it.
 */
export const ROOT = join(import.meta.dirname, "..", "..");
export const PRODUCTION_PACKAGE = join(ROOT, ".serverless");
export const LOCAL_PACKAGE = join(ROOT, ".local", "package-check");

export default function setup(): void {
  // The local stage first: packaging clears .serverless, wherever its result goes.
  for (const args of [["--stage", "local", "--package", LOCAL_PACKAGE], []]) {
    const result = spawnSync(process.execPath, [join(ROOT, "scripts", "package.mjs"), ...args], {
      cwd: ROOT,
      encoding: "utf8",
    });
    if (result.status !== 0) throw new Error(`packaging failed:\n${result.stdout}\n${result.stderr}`);
  }
}
