import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { pathToFileURL } from "node:url";
import { type BuildOptions, buildSync, type Metafile } from "esbuild";
import { parse } from "yaml";

/**
 * Cold start of each function, side by side in one run: its packaged bundle (the zip that is
 * deployed, unzipped, run with the environment and NODE_OPTIONS its template gives it) imported in
 * a fresh `node` process, against a baseline bundle built with the same esbuild options from an
 * entry that only imports and constructs the AWS SDK clients the function's bundle holds. For a
 * function that verifies certificates, a third bundle adds its X.509 parser to those clients: the
 * floor it cannot start under. They alternate, so load on the machine hits all alike. Import
 * time includes the module-level code: configuration, clients, logger and metrics, as Lambda's
 * init does.
 *   npx tsx bench/cold-start.ts        (BENCH_COLD_START_ROUNDS, 15 by default)
 */
const ROOT = join(import.meta.dirname, "..");
const ROUNDS = Number(process.env.BENCH_COLD_START_ROUNDS ?? 15);

// The clients a baseline entry makes, by the package the function's bundle holds.
const CLIENTS: Record<string, { imports: string; construct: string }> = {
  "@aws-sdk/client-dynamodb": {
    imports: 'import { DynamoDBClient } from "@aws-sdk/client-dynamodb";',
    construct: "new DynamoDBClient({})",
  },
  "@aws-sdk/lib-dynamodb": {
    imports:
      'import { DynamoDBClient as DocumentBase } from "@aws-sdk/client-dynamodb";\nimport { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";',
    construct: "DynamoDBDocumentClient.from(new DocumentBase({}))",
  },
  "@aws-sdk/client-iot": {
    imports: 'import { IoTClient } from "@aws-sdk/client-iot";',
    construct: "new IoTClient({})",
  },
  "@aws-sdk/client-iot-data-plane": {
    imports: 'import { IoTDataPlaneClient } from "@aws-sdk/client-iot-data-plane";',
    construct: "new IoTDataPlaneClient({})",
  },
  "@aws-sdk/client-s3": {
    imports: 'import { S3Client } from "@aws-sdk/client-s3";',
    construct: "new S3Client({})",
  },
  "@aws-sdk/client-sqs": {
    imports: 'import { SQSClient } from "@aws-sdk/client-sqs";',
    construct: "new SQSClient({})",
  },
  "@aws-sdk/client-lambda": {
    imports: 'import { LambdaClient } from "@aws-sdk/client-lambda";',
    construct: "new LambdaClient({})",
  },
};

// What the template gives by reference (Ref, Fn::GetAtt, Fn::Sub) gets a plausible stand-in of
// the shape the variable's name says (a queue URL, a table name, an ARN).
const PSEUDO: Record<string, string> = {
  "AWS::Partition": "aws",
  "AWS::Region": "us-east-1",
  "AWS::AccountId": "123456789012",
};
const physicalOf = (logicalId: string) => PSEUDO[logicalId] ?? `fleetgate-dev-${logicalId}-0123456789AB`;
const standIn = (name: string, value: unknown): string | undefined => {
  const reference = value as { Ref?: unknown; "Fn::GetAtt"?: unknown; "Fn::Sub"?: unknown };
  if (typeof reference["Fn::Sub"] === "string")
    return reference["Fn::Sub"].replace(/\$\{([^}]+)\}/g, (_, id: string) => physicalOf(id));
  const target =
    typeof reference.Ref === "string"
      ? reference.Ref
      : Array.isArray(reference["Fn::GetAtt"])
        ? String(reference["Fn::GetAtt"][0])
        : undefined;
  if (!target) return undefined;
  if (name.endsWith("_QUEUE_URL"))
    return `https://sqs.us-east-1.amazonaws.com/123456789012/${physicalOf(target)}`;
  if (name.endsWith("_ARN")) return `arn:aws:iot:us-east-1:123456789012:${physicalOf(target)}`;
  return physicalOf(target);
};

// serverless-esbuild's own options, which it removes before calling esbuild.
const PLUGIN_OPTIONS = new Set([
  "concurrency",
  "zipConcurrency",
  "exclude",
  "nativeZip",
  "packager",
  "packagePath",
  "watch",
  "keepOutputDirectory",
  "packagerOptions",
  "installExtraArgs",
  "outputFileExtension",
  "outputBuildFolder",
  "outputWorkFolder",
  "nodeExternals",
  "skipBuild",
  "skipRebuild",
  "skipBuildExcludeFns",
  "stripEntryResolveExtensions",
  "disposeContext",
]);

/** serverless.yml's custom.esbuild as esbuild takes it, as serverless-esbuild passes it. */
const esbuildOptions = (): BuildOptions => {
  const service = parse(readFileSync(join(ROOT, "serverless.yml"), "utf8"), { logLevel: "error" }) as {
    custom: { esbuild: Record<string, unknown> };
  };
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(service.custom.esbuild)) {
    if (PLUGIN_OPTIONS.has(key)) continue;
    if (JSON.stringify(value).includes("${")) throw new Error(`custom.esbuild.${key}: a variable`);
    options[key] = value;
  }
  const exclude = (service.custom.esbuild.exclude as string[] | undefined) ?? ["aws-sdk"];
  const extension = (service.custom.esbuild.outputFileExtension as string | undefined) ?? ".js";
  return {
    ...options,
    external: [...((options.external as string[] | undefined) ?? []), ...exclude],
    outExtension: { ".js": extension },
    logLevel: "error",
  } as BuildOptions;
};

interface PackagedFunction {
  readonly name: string;
  readonly entry: string;
  readonly zip: string;
  readonly environment: Record<string, string>;
}

/** The functions of the packaged template: their entry, zip and environment. */
const packagedFunctions = (packageDir: string): PackagedFunction[] => {
  const template = JSON.parse(
    readFileSync(join(packageDir, "cloudformation-template-update-stack.json"), "utf8"),
  ) as { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
  return Object.entries(template.Resources)
    .filter(([, resource]) => resource.Type === "AWS::Lambda::Function")
    .map(([logicalId, { Properties: properties }]) => {
      const handler = properties.Handler as string;
      const variables = ((properties.Environment as { Variables?: Record<string, unknown> } | undefined)
        ?.Variables ?? {}) as Record<string, unknown>;
      const environment: Record<string, string> = {};
      for (const [name, value] of Object.entries(variables)) {
        if (typeof value === "string") environment[name] = value;
        else {
          const stand = standIn(name, value);
          if (!stand) throw new Error(`${logicalId}: no stand-in for ${name} (${JSON.stringify(value)})`);
          environment[name] = stand;
        }
      }
      return {
        name: basename((properties.Code as { S3Key: string }).S3Key, ".zip"),
        entry: handler.replace(/\.[^.]+$/, ""),
        zip: join(packageDir, basename((properties.Code as { S3Key: string }).S3Key)),
        environment,
      };
    });
};

/** The SDK client packages whose code the function's bundle holds (after tree-shaking). */
const clientPackagesOf = (metafile: Metafile): string[] => {
  const found = new Set<string>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [path, input] of Object.entries(output.inputs)) {
      const owner = /node_modules\/(@aws-sdk\/[^/]+)\//.exec(path)?.[1];
      if (owner && CLIENTS[owner] && input.bytesInOutput > 0) found.add(owner);
    }
  }
  return [...found].sort();
};

/** Whether any of a package's code is in the bundle (after tree-shaking). */
const holdsPackage = (metafile: Metafile, name: string): boolean =>
  Object.values(metafile.outputs).some((output) =>
    Object.entries(output.inputs).some(
      ([path, input]) => path.includes(`node_modules/${name}/`) && input.bytesInOutput > 0,
    ),
  );

/** The largest contributors to a bundle, by package (or "fleetgate" for the product's own code). */
const largestInputs = (metafile: Metafile, count: number): string => {
  const bytes = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [path, input] of Object.entries(output.inputs)) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
      const owner = match?.[1] ?? "fleetgate";
      bytes.set(owner, (bytes.get(owner) ?? 0) + input.bytesInOutput);
    }
  }
  const total = [...bytes.values()].reduce((a, b) => a + b, 0);
  return [...bytes.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([owner, size]) => `${owner} ${kb(size)} (${Math.round((100 * size) / total)}%)`)
    .join(", ");
};

const kb = (bytes: number) => `${Math.round(bytes / 1024)} KB`;

const IMPORT_TIMER = `const started = performance.now();
await import(process.argv[2]);
console.log(JSON.stringify({ ms: performance.now() - started }));
`;

/** Imports a bundle in a fresh node process with only the given environment; milliseconds. */
const importTime = (timer: string, file: string, environment: Record<string, string>): number => {
  const run = spawnSync(process.execPath, [timer, pathToFileURL(file).href], {
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "", ...environment },
  });
  if (run.status !== 0) throw new Error(`importing ${file} failed:\n${run.stderr}`);
  return (JSON.parse(run.stdout.trim().split("\n").at(-1) ?? "{}") as { ms: number }).ms;
};

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};
const spread = (values: readonly number[]) =>
  `${median(values).toFixed(0)} (${Math.min(...values).toFixed(0)}-${Math.max(...values).toFixed(0)})`;

export interface ColdStartRow {
  readonly function: string;
  readonly "bundle ms, median (min-max)": string;
  readonly "baseline ms, median (min-max)": string;
  readonly ratio: string;
  readonly "floor: clients + X.509 parser, ms": string;
  readonly "floor ratio": string;
  readonly zip: string;
  readonly bundle: string;
  readonly "baseline bundle": string;
}

export const benchColdStart = async (): Promise<{ rows: ColdStartRow[]; details: string[] }> => {
  const work = join(ROOT, ".local", `bench-cold-start-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    const packageDir = join(work, "package");
    const packaged = spawnSync(
      process.execPath,
      [join(ROOT, "scripts", "package.mjs"), "--package", packageDir],
      {
        cwd: ROOT,
        encoding: "utf8",
      },
    );
    if (packaged.status !== 0) throw new Error(`packaging failed:\n${packaged.stdout}\n${packaged.stderr}`);
    const timer = join(work, "import-timer.mjs");
    writeFileSync(timer, IMPORT_TIMER);
    const options = esbuildOptions();
    const base = {
      AWS_REGION: "us-east-1",
      AWS_DEFAULT_REGION: "us-east-1",
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "512",
    };

    const functions = packagedFunctions(packageDir).map((fn) => {
      const unzipped = join(work, "unzipped", fn.name);
      mkdirSync(unzipped, { recursive: true });
      const unzip = spawnSync("unzip", ["-q", "-o", fn.zip, "-d", unzipped], { encoding: "utf8" });
      if (unzip.status !== 0) throw new Error(`unzip ${fn.zip}: ${unzip.stderr}`);
      const bundle = join(unzipped, `${fn.entry}${options.outExtension?.[".js"] ?? ".js"}`);
      // The function's own build, for what it holds; the packaged one is what runs.
      const analysed = buildSync({
        ...options,
        entryPoints: [join(ROOT, `${fn.entry}.ts`)],
        write: false,
        outdir: join(work, "analysis"),
        metafile: true,
      });
      const clients = clientPackagesOf(analysed.metafile);
      const baselineOf = (name: string, extra: readonly string[]) => {
        const entry = join(work, `${name}.ts`);
        writeFileSync(
          entry,
          [
            ...clients.map((client) => CLIENTS[client]?.imports ?? `${client}: no baseline client known`),
            ...extra,
            `export const clients = [${clients.map((client) => CLIENTS[client]?.construct).join(", ")}];`,
            "export const handler = async () => clients.length;",
            "",
          ].join("\n"),
        );
        buildSync({ ...options, entryPoints: [entry], outdir: join(work, "baseline") });
        return join(work, "baseline", `${name}${options.outExtension?.[".js"] ?? ".js"}`);
      };
      return {
        ...fn,
        bundle,
        baseline: baselineOf(`baseline-${fn.name}`, []),
        // A function that verifies certificates cannot start without its X.509 parser: the
        // clients and src/domain/certificate.ts (the parser as the functions load it) are its floor.
        withParser: holdsPackage(analysed.metafile, "@peculiar/asn1-x509")
          ? baselineOf(`baseline-x509-${fn.name}`, [
              `import { inspectCertificate } from ${JSON.stringify(join(ROOT, "src", "domain", "certificate.ts"))};`,
              "export const parser = inspectCertificate;",
            ])
          : undefined,
        clients,
        largest: largestInputs(analysed.metafile, 6),
        times: { bundle: [] as number[], baseline: [] as number[], withParser: [] as number[] },
      };
    });

    for (let round = 0; round < ROUNDS; round += 1) {
      for (const fn of functions) {
        const runs = [
          () => fn.times.bundle.push(importTime(timer, fn.bundle, { ...base, ...fn.environment })),
          () => fn.times.baseline.push(importTime(timer, fn.baseline, base)),
          ...(fn.withParser
            ? [() => fn.times.withParser.push(importTime(timer, fn.withParser as string, base))]
            : []),
        ];
        // Each round starts with the next one, so none always runs first.
        for (let i = 0; i < runs.length; i += 1) runs[(round + i) % runs.length]?.();
      }
    }

    const rows = functions.map((fn) => ({
      function: fn.name,
      "bundle ms, median (min-max)": spread(fn.times.bundle),
      "baseline ms, median (min-max)": spread(fn.times.baseline),
      ratio: (median(fn.times.bundle) / median(fn.times.baseline)).toFixed(2),
      "floor: clients + X.509 parser, ms": fn.withParser ? spread(fn.times.withParser) : "-",
      "floor ratio": fn.withParser
        ? (median(fn.times.withParser) / median(fn.times.baseline)).toFixed(2)
        : "-",
      zip: kb(statSync(fn.zip).size),
      bundle: kb(statSync(fn.bundle).size),
      "baseline bundle": kb(statSync(fn.baseline).size),
    }));
    const details = functions.map(
      (fn) =>
        `${fn.name}: baseline ${fn.clients.join(" + ")}; NODE_OPTIONS ${fn.environment.NODE_OPTIONS ?? "(none)"}; largest: ${fn.largest}`,
    );
    return { rows, details };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
};

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const { rows, details } = await benchColdStart();
  console.table(rows);
  for (const line of details) console.log(`  ${line}`);
}
