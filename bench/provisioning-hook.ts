import { loadavg } from "node:os";
import { CreateTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { Context } from "aws-lambda";
import type { PreProvisioningDeps } from "#app/pre-provision.js";
import { certificateIdOf } from "#domain/certificate.js";
import type { ClaimBinding } from "#domain/claim.js";
import type { Device } from "#domain/device.js";
import type { BatchId, CaCertificateId, CertificateId, DeviceId } from "#domain/ids.js";
import { createCa, issueDeviceCertificate } from "#local/dev-pki.js";
import { localClientConfig, startLocalAws } from "#local/ministack.js";
import { InMemoryFleetStore } from "#test/support/in-memory-fleet.js";
import { InMemoryLifecycleStore } from "#test/support/in-memory-store.js";

/**
 * The pre-provisioning hook's latency: the deployed handler (its middy stack, input check, X.509
 * parse and checks, the one BatchGetItem, the reservation's transaction or the refusal's record,
 * its log line and metrics) invoked in this process, one request after the other as IoT Core does
 * for devices provisioning one by one: through the real adapters against the local AWS's DynamoDB
 * (ministack, over HTTPS on loopback), and against the in-memory store (the hook's own cost, no
 * I/O). IoT Core denies an answer after 5 s; the target is a p99 well under 1 s. Not measured:
 * Lambda's invocation and a cold start's module loading (the cold-start benchmark), and DynamoDB's
 * own latency in a region. The load average is printed: a busy machine shows in every figure.
 */
const DEVICES = Number(process.env.BENCH_HOOK_DEVICES ?? 300);
const TABLE = "bench-hook";
const CLAIM = "be".repeat(32) as CertificateId;
const BATCH = "bench-lot" as BatchId;

const percentile = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;

const row = (store: string, kind: string, times: readonly number[]) => {
  const sorted = [...times].sort((a, b) => a - b);
  const ms = (value: number) => Number(value.toFixed(1));
  return {
    store,
    requests: kind,
    n: sorted.length,
    "p50 ms": ms(percentile(sorted, 50)),
    "p95 ms": ms(percentile(sorted, 95)),
    "p99 ms": ms(percentile(sorted, 99)),
    "max ms": ms(sorted.at(-1) ?? Number.NaN),
  };
};

const entry = (deviceId: DeviceId, at: string): Device => ({
  deviceId,
  state: "ALLOWED",
  batchId: BATCH,
  caCertificateId: "a".repeat(64) as CaCertificateId,
  model: "bench",
  attributes: {},
  pins: {},
  version: 1,
  createdAt: at,
  updatedAt: at,
});

const claim = (at: string): ClaimBinding => ({
  claimCertificateId: CLAIM,
  certificateArn: `arn:aws:iot:us-east-1:000000000000:cert/${CLAIM}`,
  batchIds: [BATCH],
  createdAt: at,
  createdBy: "bench",
});

/** IoT Core's hook input for each kind of request; the certificates are made once, before timing. */
const makeRequests = async () => {
  // IoT Core's own CA stands for Amazon's; EC P-256 keys keep the preparation short.
  const amazon = await createCa({ name: "bench Amazon-like CA" });
  const request = async (deviceId: string) => {
    const { pem } = await issueDeviceCertificate(amazon, { subject: "CN=AWS IoT Certificate" });
    return {
      claimCertificateId: CLAIM,
      certificateId: certificateIdOf(pem),
      certificatePem: pem,
      templateArn: "arn:aws:iot:us-east-1:000000000000:provisioningtemplate/fleetgate-bench-fleet",
      clientId: `claim.${deviceId}`,
      parameters: { DeviceId: deviceId },
    };
  };
  const ids = Array.from({ length: DEVICES }, (_, i) => `bench-fleet-${i}` as DeviceId);
  const third = Math.floor(DEVICES / 3);
  return {
    ids,
    warmUp: await request("bench-warm-up"),
    byKind: {
      "allowed (reserved)": await Promise.all(ids.map(request)),
      "denied: not on the allowlist": await Promise.all(
        ids.slice(0, third).map((_, i) => request(`bench-stranger-${i}`)),
      ),
      "denied: a clone": await Promise.all(ids.slice(0, third).map(request)),
    },
  };
};
type Requests = Awaited<ReturnType<typeof makeRequests>>;

const measure = async (store: string, deps: PreProvisioningDeps, requests: Requests) => {
  const { provisioningHook } = await import("#functions/provisioning-hook.js");
  const handler = provisioningHook(deps);
  const context = { functionName: "provisioningHook", awsRequestId: "bench" } as unknown as Context;
  const started = performance.now();
  await handler(requests.warmUp, context);
  const firstMs = performance.now() - started;
  const all: number[] = [];
  const rows = [];
  let listedDenied = 0;
  for (const [kind, events] of Object.entries(requests.byKind)) {
    const times: number[] = [];
    for (const event of events) {
      const begun = performance.now();
      const answer = await handler(event, context);
      times.push(performance.now() - begun);
      if (kind.startsWith("allowed") && !answer.allowProvisioning) listedDenied += 1;
    }
    all.push(...times);
    rows.push(row(store, kind, times));
  }
  rows.push(row(store, "all", all));
  return { rows, firstMs: Number(firstMs.toFixed(1)), listedDenied };
};

const hookSettings = { clockSkewMs: 300_000, reservationMs: 3_600_000, budgetMs: 2000 };

/** The hook's dependencies over one store, the same settings for every store measured. */
const hookDeps = (
  fleet: PreProvisioningDeps["fleet"],
  store: PreProvisioningDeps["store"],
): PreProvisioningDeps => ({
  fleet,
  store,
  registry: { describeCertificate: () => Promise.reject(new Error("not asked")) },
  clock: { now: () => new Date() },
  certificatePolicy: { clockSkewMs: hookSettings.clockSkewMs },
  reservationMs: hookSettings.reservationMs,
  budgetMs: hookSettings.budgetMs,
});

export const benchProvisioningHook = async () => {
  // The figures, not the hook's log lines and metrics, are this run's output.
  Object.assign(process.env, {
    POWERTOOLS_LOG_LEVEL: "SILENT",
    POWERTOOLS_METRICS_DISABLED: "true",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  });
  const requests = await makeRequests();
  const at = new Date().toISOString();

  const memory = new InMemoryLifecycleStore();
  const fleet = new InMemoryFleetStore(memory);
  await memory.addDevices(requests.ids.map((id) => entry(id, at)));
  await fleet.bindClaim(claim(at));
  const inMemory = await measure("in memory", hookDeps(fleet, memory), requests);

  // ministack's DynamoDB: moto's copies every table on each transaction (about 50 ms a call here,
  // measured), which would be moto's cost, not the hook's.
  const aws = await startLocalAws();
  try {
    const config = localClientConfig(aws);
    const { lifecycleTableDefinition } = await import("#adapters/table-definition.js");
    await new DynamoDBClient(config).send(new CreateTableCommand(lifecycleTableDefinition(TABLE)));
    // Made as the functions' own document client is (src/adapters/aws-clients.ts), pointed at ministack.
    const db = DynamoDBDocumentClient.from(new DynamoDBClient({ ...config, maxAttempts: 5 }), {
      marshallOptions: { removeUndefinedValues: true },
    });
    const [{ dynamoDbLifecycleStore }, { claimRegistry, fleetLedger }, { provisioningLedger }] =
      await Promise.all([
        import("#adapters/dynamodb-lifecycle-store.js"),
        import("#adapters/dynamodb/fleet.js"),
        import("#adapters/dynamodb/provisioning-ledger.js"),
      ]);
    const table = dynamoDbLifecycleStore(db, TABLE);
    for (let i = 0; i < requests.ids.length; i += 100)
      await table.addDevices(requests.ids.slice(i, i + 100).map((id) => entry(id, at)));
    await claimRegistry(db, TABLE).bindClaim(claim(at));
    const onDynamoDb = await measure(
      "DynamoDB (ministack)",
      hookDeps(fleetLedger(db, TABLE), provisioningLedger(db, TABLE)),
      requests,
    );
    return {
      rows: [...onDynamoDb.rows, ...inMemory.rows],
      firstMs: onDynamoDb.firstMs,
      listedDenied: onDynamoDb.listedDenied + inMemory.listedDenied,
      loadAverage: loadavg()
        .map((load) => load.toFixed(1))
        .join(" "),
    };
  } finally {
    await aws.stop();
  }
};

/** Prints the figures (this file is run by itself, in its own process, by bench/run.ts). */
const printProvisioningHook = async () => {
  const result = await benchProvisioningHook();
  console.table(result.rows);
  console.log(`  first request against DynamoDB (connections opened): ${result.firstMs} ms`);
  console.log(`  listed devices denied because the hook's budget ran out: ${result.listedDenied}`);
  console.log(`  load average during the run (1, 5, 15 min): ${result.loadAverage}`);
};

if (import.meta.url === `file://${process.argv[1]}`) await printProvisioningHook();
