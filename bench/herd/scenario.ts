import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { parseDocument } from "yaml";
import { IOT_BUDGET_DEFAULTS } from "#adapters/config.js";
import { certificateIdOf } from "#domain/certificate-names.js";
import { InMemoryScheduleStore } from "#test/support/in-memory-schedules.js";
import { InMemoryLifecycleStore } from "#test/support/in-memory-store.js";
import { ACCOUNT, type IotAccount as Account, IotAccount, type IotApi } from "./account.js";
import { bundleFunction, type FunctionModule, HERD_GLOBAL, loadContainer } from "./bundle.js";
import { SqsEventSource } from "./lambda.js";
import { herdPki } from "./pki.js";
import { SimQueue, sqsRequestHandler } from "./queue.js";
import { installVirtualTime, realWork, sleep } from "./virtual-time.js";

/**
 * One herd scenario, in this process: the real JITR function (and, when asked, the real manifest
 * ingest pre-registering certificates at the same time) in as many containers as its event source
 * allows, against the account double (IoT Core's quotas and latency), the SQS model and the
 * in-memory table, all in virtual time.
 */
export interface Scenario {
  readonly name: string;
  /** Devices whose first connection reaches the JITR queue. */
  readonly devices: number;
  /** Their first connections are spread evenly over this long (ms). */
  readonly arrivalWindowMs: number;
  /** IoT Core's round trip (ms), and how much it varies either way (share). */
  readonly latencyMs: number;
  readonly jitter?: number;
  /** Tokens of IoT Core's buckets: the burst the account allows. */
  readonly burst: number;
  /** Another application calling DescribeCertificate and UpdateCertificate this often each (TPS). */
  readonly otherCallerTps?: number;
  /** Another application takes the Describe and Update quotas whole for this long from the start (ms). */
  readonly blackoutMs?: number;
  /** An uploaded manifest brings this many certificates to pre-register, at the same time. */
  readonly preRegistered?: number;
  /** DynamoDB's round trip (ms). */
  readonly dynamoDbLatencyMs?: number;
  /** Other event source settings than serverless.yml's, to compare. */
  readonly eventSource?: Partial<DeployedSettings>;
}

export interface ScenarioResult {
  readonly name: string;
  readonly devices: number;
  readonly provisioned: number;
  readonly lost: number;
  readonly deadLettered: number;
  readonly duplicateActivations: number;
  readonly duplicateThings: number;
  readonly seconds: number;
  readonly devicesPerSecond: number;
  readonly possiblePerSecond: number;
  readonly ratio: number;
  readonly throttlesSeen: number;
  readonly throttlesByApi: Record<string, number>;
  readonly throttlesSurfaced: number;
  readonly recordsFailed: number;
  readonly timeouts: number;
  readonly deferrals: number;
  /** Delays the deferred records were re-queued with (s): median, 99th percentile, longest. */
  readonly deferralDelays: { p50: number; p99: number; max: number };
  readonly p50Seconds: number;
  readonly p99Seconds: number;
  readonly otherCallerTps?: number;
  readonly ingestAttempts?: number;
  readonly ingestDeadLettered?: boolean;
  readonly preRegisteredDuringHerd?: number;
  readonly ingestFinishedSeconds?: number;
  readonly lostSample: readonly object[];
  readonly dynamoDbCallsPerDevice: number;
  readonly budgetWritesPerDevice: number;
  readonly containers: number;
  readonly peakRssMb: number;
  readonly peakHeapMb: number;
  readonly containerHeapMb: number;
  readonly realSeconds: number;
  readonly settings: DeployedSettings;
}

const ROOT = join(import.meta.dirname, "..", "..");

/** The JITR event source and queue as serverless.yml deploys them. */
export interface DeployedSettings {
  readonly pollers: number;
  readonly batchSize: number;
  readonly windowMs: number;
  readonly timeoutMs: number;
  readonly visibilityMs: number;
  readonly maxReceiveCount: number;
}

export const deployedSettings = (): DeployedSettings => {
  // Leniently: only the JITR function and queue are read here, whatever the rest holds.
  const yaml = parseDocument(readFileSync(join(ROOT, "serverless.yml"), "utf8"), {
    logLevel: "silent",
    customTags: ["Ref", "GetAtt", "Sub", "Join", "Split", "Not", "Equals", "If", "Select"].map((tag) => ({
      tag: `!${tag}`,
      resolve: (value: string) => value,
    })),
  }).toJS() as {
    provider: { timeout: number };
    functions: {
      jitr: {
        timeout?: number;
        events: { sqs: { batchSize: number; maximumBatchingWindow?: number; maximumConcurrency: number } }[];
      };
    };
    resources: {
      Resources: {
        JitrQueue: { Properties: { VisibilityTimeout: number; RedrivePolicy: { maxReceiveCount: number } } };
      };
    };
  };
  const source = yaml.functions.jitr.events[0]?.sqs;
  if (!source) throw new Error("serverless.yml: no SQS event source for jitr");
  const queue = yaml.resources.Resources.JitrQueue.Properties;
  return {
    pollers: source.maximumConcurrency,
    batchSize: source.batchSize,
    windowMs: (source.maximumBatchingWindow ?? 0) * 1000,
    timeoutMs: (yaml.functions.jitr.timeout ?? yaml.provider.timeout) * 1000,
    visibilityMs: queue.VisibilityTimeout * 1000,
    maxReceiveCount: queue.RedrivePolicy.maxReceiveCount,
  };
};

const QUEUE_ARN = `arn:aws:sqs:us-east-1:${ACCOUNT}:herd-jitr`;
const QUEUE_URL = `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/herd-jitr`;
const BUCKET = "herd-manifests";
const MANIFEST_KEY = "manifests/herd/pre-registered.ndjson";

/**
 * A store's methods as a plain object (as the DynamoDB adapters are: the functions spread them),
 * each called after half DynamoDB's latency and answered after the other half.
 */
const withLatency = <T extends object>(
  target: T,
  latencyMs: number,
  container: string,
  frozen: Set<string>,
  counts: { calls: number },
): T => {
  const names = new Set<string>();
  for (let o: object | null = target; o && o !== Object.prototype; o = Object.getPrototypeOf(o))
    for (const name of Object.getOwnPropertyNames(o))
      if (name !== "constructor" && typeof (target as Record<string, unknown>)[name] === "function")
        names.add(name);
  const wrapped: Record<string, unknown> = {};
  for (const name of names) {
    const method = (target as Record<string, (...a: unknown[]) => Promise<unknown>>)[name] as (
      ...a: unknown[]
    ) => Promise<unknown>;
    wrapped[name] = async (...args: unknown[]) => {
      counts.calls += 1;
      await sleep(latencyMs / 2);
      if (frozen.has(container)) return new Promise(() => undefined);
      const result = await method.apply(target, args);
      await sleep(latencyMs / 2);
      return result;
    };
  }
  return wrapped as T;
};

const percentile = (sorted: readonly number[], p: number): number =>
  sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0);

const summarise = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1) ?? 0 };
};

const heapMb = () => process.memoryUsage().heapUsed / 2 ** 20;

export const runScenario = async (scenario: Scenario): Promise<ScenarioResult> => {
  const realStart = performance.now();
  const settings = { ...deployedSettings(), ...scenario.eventSource };
  Object.assign(process.env, {
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "herd",
    AWS_SECRET_ACCESS_KEY: "herd",
    DEVICES_TABLE: "herd-devices",
    DEVICE_THING_GROUP: "herd-devices",
    JITR_QUEUE_URL: QUEUE_URL,
    MANIFEST_BUCKET: BUCKET,
    POWERTOOLS_LOG_LEVEL: process.env.HERD_LOG_LEVEL ?? "SILENT",
    POWERTOOLS_METRICS_DISABLED: "true",
    POWERTOOLS_TRACE_ENABLED: "false",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    // The deployment's budget, whatever the parent process set (npm run bench's moto benchmark
    // runs unpaced, with a share of 100, in the process that starts the herd).
    IOT_QUOTA_SHARE: String(IOT_BUDGET_DEFAULTS.IOT_QUOTA_SHARE),
    IOT_BACKGROUND_SHARE: String(IOT_BUDGET_DEFAULTS.IOT_BACKGROUND_SHARE),
  });
  delete process.env.AWS_ENDPOINT_URL;
  const jitrBundle = await bundleFunction("jitr");
  const ingestBundle = scenario.preRegistered ? await bundleFunction("ingest-manifest") : undefined;
  const pki = await herdPki("jitr", scenario.devices);
  const pre = scenario.preRegistered ? await herdPki("pre", scenario.preRegistered) : undefined;

  const time = installVirtualTime(Date.now());
  const start = Date.now();
  const blackoutEnd = start + (scenario.blackoutMs ?? 0);
  const account: Account = new IotAccount(
    {
      latencyMs: scenario.latencyMs,
      burst: scenario.burst,
      ...(scenario.jitter ? { jitter: scenario.jitter } : {}),
      ...(scenario.blackoutMs ? { blackout: { from: start, to: blackoutEnd } } : {}),
    },
    start,
  );
  const store = new InMemoryLifecycleStore();
  const schedules = new InMemoryScheduleStore();
  const frozen = account.frozen;
  const dynamoDbLatency = scenario.dynamoDbLatencyMs ?? 8;
  const tableCalls = { calls: 0 };
  const scheduleCalls = { calls: 0 };
  (globalThis as Record<symbol, unknown>)[HERD_GLOBAL] = {
    lifecycleStore: (container: string) => withLatency(store, dynamoDbLatency, container, frozen, tableCalls),
    scheduleStore: (container: string) =>
      withLatency(schedules, dynamoDbLatency, container, frozen, scheduleCalls),
  };

  // The account: the CAs, the JITR devices on the allowlist.
  const caId = certificateIdOf(pki.caPem);
  account.cas.set(caId, pki.caPem);
  const now = new Date(start).toISOString();
  for (const { deviceId } of pki.devices)
    store.devices.set(deviceId, {
      deviceId,
      state: "ALLOWED",
      batchId: "herd-batch",
      caCertificateId: caId,
      attributes: {},
      model: "sensor",
      pins: {},
      version: 1,
      createdAt: now,
      updatedAt: now,
    } as never);
  if (pre) account.cas.set(certificateIdOf(pre.caPem), pre.caPem);

  const arrivals = new Map<string, number>();
  const activatedAt = new Map<string, number>();
  account.onActivated = (certificateId, at) => {
    if (!activatedAt.has(certificateId)) activatedAt.set(certificateId, at);
  };
  const total = scenario.devices + (scenario.preRegistered ?? 0);

  const queue = new SimQueue(QUEUE_ARN, QUEUE_URL, settings.visibilityMs, settings.maxReceiveCount);
  const sends = { sends: 0, delays: [] as number[] };
  const sqs = sqsRequestHandler([queue], 10, sends);
  let containerHeapMb = 0;
  const containers = {
    async load(id: string): Promise<FunctionModule> {
      const before = heapMb();
      const module = await realWork(
        loadContainer(id.startsWith("ingest") ? (ingestBundle as string) : jitrBundle, id),
      );
      module.iotClient().config.requestHandler = account.handlerFor(id);
      module.sqsClient().config.requestHandler = sqs;
      if (id.startsWith("ingest"))
        module.s3Client().config.requestHandler = s3Double(manifest, pre ? certificateIdOf(pre.caPem) : "");
      containerHeapMb = Math.max(containerHeapMb, heapMb() - before);
      return module;
    },
    freeze: (id: string) => frozen.add(id),
  };
  const source = new SqsEventSource(
    queue,
    {
      functionName: "jitr",
      pollers: settings.pollers,
      batchSize: settings.batchSize,
      windowMs: settings.windowMs,
      timeoutMs: settings.timeoutMs,
      receiveLatencyMs: 20,
      coldStartMs: 300,
    },
    containers,
  );

  // First connections: IoT Core registers each certificate PENDING_ACTIVATION and publishes.
  const connect = (index: number) => {
    const device = pki.devices[index];
    if (!device) return;
    const certificateId = certificateIdOf(device.pem);
    account.certificates.set(certificateId, {
      pem: device.pem,
      status: "PENDING_ACTIVATION",
      caCertificateId: caId,
    });
    arrivals.set(certificateId, Date.now());
    queue.send(
      JSON.stringify({
        certificateId,
        caCertificateId: caId,
        timestamp: Date.now(),
        certificateStatus: "PENDING_ACTIVATION",
        awsAccountId: ACCOUNT,
        certificateRegistrationTimestamp: null,
      }),
    );
  };
  const arriveFrom = (index: number) => {
    const due = (i: number) => start + (scenario.arrivalWindowMs * i) / scenario.devices;
    let i = index;
    while (i < scenario.devices && due(i) <= Date.now()) connect(i++);
    if (i < scenario.devices) setTimeout(() => arriveFrom(i), due(i) - Date.now());
  };
  arriveFrom(0);
  source.start();
  if (scenario.otherCallerTps)
    account.otherCaller(
      ["DescribeCertificate", "UpdateCertificate"] satisfies IotApi[],
      scenario.otherCallerTps,
      start,
      Number.POSITIVE_INFINITY,
    );

  // The manifest with certificates, uploaded at the start: the real ingest, with Lambda's two retries.
  const manifest = pre
    ? Buffer.from(
        pre.devices.map((d) => JSON.stringify({ deviceId: d.deviceId, certificatePem: d.pem })).join("\n"),
      )
    : Buffer.alloc(0);
  let ingestAttempts = 0;
  let ingestDone = !pre;
  let ingestDeadLettered = false;
  if (pre) {
    for (const device of pre.devices) arrivals.set(certificateIdOf(device.pem), start);
    void (async () => {
      const module = await containers.load("ingest-0");
      for (const retryAfter of [60_000, 120_000, undefined]) {
        ingestAttempts += 1;
        const end = Date.now() + 900_000;
        const context = {
          functionName: "ingest",
          awsRequestId: "ingest",
          getRemainingTimeInMillis: () => end - Date.now(),
        };
        const event = {
          Records: [{ s3: { bucket: { name: BUCKET }, object: { key: MANIFEST_KEY, versionId: "v1" } } }],
        };
        const failed = await Promise.race([
          module.handler(event, context).then(
            () => false,
            () => true,
          ),
          sleep(900_000).then(() => true),
        ]);
        if (!failed) break;
        if (retryAfter === undefined) ingestDeadLettered = true;
        else await sleep(retryAfter);
      }
      ingestDone = true;
    })();
  }

  let peakRss = 0;
  let peakHeap = 0;
  const sample = () => {
    const memory = process.memoryUsage();
    peakRss = Math.max(peakRss, memory.rss);
    peakHeap = Math.max(peakHeap, memory.heapUsed);
  };
  const expectedMs = (total / 10) * 1000;
  const capAt = blackoutEnd + scenario.arrivalWindowMs + 4 * expectedMs + 3_600_000;
  await time.run(
    () =>
      activatedAt.size >= total ||
      Date.now() > capAt ||
      (ingestDone && queue.depth === 0 && Date.now() > start + scenario.arrivalWindowMs + 1000),
    sample,
  );
  sample();
  source.stop();
  const end = Math.max(...activatedAt.values(), start);
  const measuredFromForTimeline = Math.max(start, blackoutEnd);
  const elapsed = (Date.now() - start) / 1000;
  time.uninstall();

  const latencies = [...activatedAt.entries()]
    .map(([id, at]) => (at - (arrivals.get(id) ?? start)) / 1000)
    .sort((a, b) => a - b);
  const activations = new Map<string, number>();
  for (const event of store.events)
    if (event.type === "ACTIVATED")
      activations.set(event.deviceId, (activations.get(event.deviceId) ?? 0) + 1);
  const duplicateActivations =
    [...activations.values()].filter((n) => n > 1).length +
    [...account.activations.values()].filter((n) => n > 1).length;
  const duplicateThings =
    account.thingsCreated -
    account.things.size +
    [...account.principals.values()].filter((principals) => principals.size > 1).length;
  // The first few devices left without an ACTIVE certificate, and where they stand.
  const lostSample = [...pki.devices, ...(pre?.devices ?? [])]
    .map((d) => ({ deviceId: d.deviceId, certificateId: certificateIdOf(d.pem) }))
    .filter((d) => !activatedAt.has(d.certificateId))
    .slice(0, 5)
    .map((d) => ({
      deviceId: d.deviceId,
      state: store.devices.get(d.deviceId)?.state,
      certificate: account.certificates.get(d.certificateId)?.status ?? "not registered",
      record: store.certificates.get(d.certificateId)?.outcome,
    }));
  // HERD_TIMELINE=1: activations per 10 s from the start of the measured window, on stderr.
  if (process.env.HERD_TIMELINE) {
    const buckets = new Map<number, number>();
    for (const at of activatedAt.values()) {
      const b = Math.floor((at - measuredFromForTimeline) / 10_000);
      buckets.set(b, (buckets.get(b) ?? 0) + 1);
    }
    console.error(
      [...buckets]
        .sort((a, b) => a[0] - b[0])
        .map(([b, n]) => `${b * 10}s:${n}`)
        .join(" "),
    );
  }
  const throttlesSeen = [...account.stats.values()].reduce((sum, s) => sum + s.throttled, 0);
  // Throughput over the time the quota was the limit: from the first arrival (or the quota's return)
  // to the last activation; with a pre-registration beside the herd, while first connections were
  // waiting (the ingest then goes on alone at the pace of its one-at-a-time loop).
  const measuredFrom = Math.max(start, blackoutEnd);
  const jitrIds = new Set(pki.devices.map((d) => certificateIdOf(d.pem)));
  const lastFirstConnection = Math.max(
    start,
    ...[...activatedAt].filter(([id]) => jitrIds.has(id as never)).map(([, at]) => at),
  );
  const busyUntil = pre ? lastFirstConnection : end;
  const seconds = (busyUntil - measuredFrom) / 1000;
  const doneInWindow = [...activatedAt.values()].filter((at) => at <= busyUntil).length;
  const free = 10 - (scenario.otherCallerTps ?? 0);
  const offered = total / Math.max(0.1, scenario.arrivalWindowMs / 1000);
  const possible = Math.min(free, offered);
  const devicesPerSecond = doneInWindow / seconds;
  return {
    name: scenario.name,
    devices: total,
    provisioned: activatedAt.size,
    lost: total - activatedAt.size,
    deadLettered: queue.deadLetters.length,
    duplicateActivations,
    duplicateThings,
    seconds,
    devicesPerSecond,
    possiblePerSecond: possible,
    ratio: devicesPerSecond / possible,
    throttlesSeen,
    throttlesByApi: Object.fromEntries([...account.stats].map(([api, s]) => [api, s.throttled])),
    throttlesSurfaced: source.stats.recordsFailed + source.stats.timeouts + source.stats.errors,
    recordsFailed: source.stats.recordsFailed,
    timeouts: source.stats.timeouts,
    deferrals: sends.sends,
    deferralDelays: summarise(sends.delays),
    p50Seconds: percentile(latencies, 0.5),
    p99Seconds: percentile(latencies, 0.99),
    ...(scenario.otherCallerTps ? { otherCallerTps: account.othersStats.ok / 2 / elapsed } : {}),
    ...(pre
      ? {
          ingestAttempts,
          ingestDeadLettered,
          preRegisteredDuringHerd: doneInWindow - jitrIds.size,
          ingestFinishedSeconds: (end - start) / 1000,
        }
      : {}),
    lostSample,
    dynamoDbCallsPerDevice: tableCalls.calls / Math.max(1, activatedAt.size),
    budgetWritesPerDevice: scheduleCalls.calls / Math.max(1, activatedAt.size),
    containers: source.stats.containers + (pre ? 1 : 0),
    peakRssMb: peakRss / 2 ** 20,
    peakHeapMb: peakHeap / 2 ** 20,
    containerHeapMb,
    realSeconds: (performance.now() - realStart) / 1000,
    settings,
  };
};

/** S3 for the ingest: the one uploaded manifest, with the metadata its upload ticket set. */
const s3Double = (manifest: Buffer, caCertificateId: string) => ({
  handle: async (request: { method: string; path: string }) => {
    await sleep(10);
    const key = decodeURIComponent(request.path.replace(`/${BUCKET}/`, ""));
    if (key !== MANIFEST_KEY) return { response: { statusCode: 404, headers: {}, body: Buffer.alloc(0) } };
    const headers: Record<string, string> = {
      "x-amz-meta-ca-certificate-id": caCertificateId,
      "x-amz-meta-batch-id": "herd-pre-registered",
      "x-amz-meta-actor": "herd",
      "x-amz-version-id": "v1",
      "content-length": String(manifest.length),
      "content-type": "application/x-ndjson",
      etag: `"${createHash("md5").update(manifest).digest("hex")}"`,
    };
    return {
      response: {
        statusCode: 200,
        headers,
        body: request.method === "HEAD" ? Readable.from([]) : Readable.from([manifest]),
      },
    };
  },
  updateHttpClientConfig: () => undefined,
  httpHandlerConfigs: () => ({}),
  destroy: () => undefined,
});
