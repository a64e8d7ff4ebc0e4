import { spawnSync } from "node:child_process";
import { join } from "node:path";

/**
 * Packages the service once for the deployment tests, offline: the production template (stage dev,
 * as `npm run package` makes it) and the local stage's (the one deployed on the local AWS), which
 * those tests compare with it. Both go to folders of their own: packaging clears .serverless, and
 * the end-to-end tests package at the same time.
 */
export const ROOT = join(import.meta.dirname, "..", "..");
export const PRODUCTION_PACKAGE = join(ROOT, ".local", "package-production");
export const LOCAL_PACKAGE = join(ROOT, ".local", "package-check");

export default function setup(): void {
  for (const args of [
    ["--package", PRODUCTION_PACKAGE],
    ["--stage", "local", "--package", LOCAL_PACKAGE],
  ]) {
    const result = spawnSync(process.execPath, [join(ROOT, "scripts", "package.mjs"), ...args], {
      cwd: ROOT,
      encoding: "utf8",
    });
    if (result.status !== 0) throw new Error(`packaging failed:\n${result.stdout}\n${result.stderr}`);
  }
}
