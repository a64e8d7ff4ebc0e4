import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { build, type Plugin } from "esbuild";

/**
 * The functions as Lambda runs them: each one bundled by esbuild with serverless.yml's options (one
 * file, every dependency inside, the AWS SDK included), so that each simulated container imports
 * its own copy: its own SDK clients, its own CA cache, its own share of the IoT budget's local
 * state, as separate Lambda containers have. Two modules are substituted, and only these: the
 * DynamoDB adapters of the lifecycle table and of the IoT budget's schedules, which become the
 * simulation's shared in-memory table (test/support/in-memory-store.ts, kept faithful by the
 * contract suite) with DynamoDB's latency. Everything else is the code that ships.
 */
const ROOT = join(import.meta.dirname, "..", "..");
export const HERD_DIR = join(ROOT, ".local", "herd");

export const HERD_GLOBAL = Symbol.for("fleetgate.herd");

/** What the substituted modules find on globalThis. */
export interface HerdTable {
  lifecycleStore(container: string): unknown;
  scheduleStore(container: string): unknown;
}

const substitutes: Plugin = {
  name: "herd-substitutes",
  setup(build) {
    const container = `new URL(import.meta.url).searchParams.get("container") ?? "?"`;
    const table = `globalThis[Symbol.for("fleetgate.herd")]`;
    build.onLoad({ filter: /src[\\/]adapters[\\/]dynamodb-lifecycle-store\.ts$/ }, () => ({
      contents: `export const dynamoDbLifecycleStore = () => ${table}.lifecycleStore(${container});`,
      loader: "js",
    }));
    build.onLoad({ filter: /src[\\/]adapters[\\/]dynamodb[\\/]iot-budget-schedules\.ts$/ }, () => ({
      contents: `export const dynamoDbScheduleStore = () => ${table}.scheduleStore(${container});`,
      loader: "js",
    }));
  },
};

/** Bundles a function with the accessors of its SDK clients, for the simulation to plug its doubles in. */
export const bundleFunction = async (name: string): Promise<string> => {
  mkdirSync(HERD_DIR, { recursive: true });
  const outfile = join(HERD_DIR, `${name}.mjs`);
  await build({
    stdin: {
      contents: [
        `export { handler } from "./functions/${name}.ts";`,
        `export { iotClient, sqsClient, s3Client } from "./src/adapters/aws-clients.ts";`,
      ].join("\n"),
      resolveDir: ROOT,
      loader: "ts",
      sourcefile: `herd-${name}.ts`,
    },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    mainFields: ["module", "main"],
    minifyWhitespace: true,
    minifySyntax: true,
    keepNames: true,
    banner: { js: "import { createRequire } from 'module';const require = createRequire(import.meta.url);" },
    outfile,
    logLevel: "error",
    plugins: [substitutes],
  });
  return outfile;
};

export interface FunctionModule {
  handler: (event: unknown, context: unknown) => Promise<unknown>;
  iotClient(): { config: { requestHandler: unknown } };
  sqsClient(): { config: { requestHandler: unknown } };
  s3Client(): { config: { requestHandler: unknown } };
}

/** A fresh container: the bundle imported anew, so nothing is shared with other containers. */
export const loadContainer = async (bundle: string, container: string): Promise<FunctionModule> =>
  (await import(
    `${pathToFileURL(bundle).href}?container=${encodeURIComponent(container)}`
  )) as FunctionModule;
