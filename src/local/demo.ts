import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CreateTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DescribeCertificateCommand, IoTClient } from "@aws-sdk/client-iot";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { CreateQueueCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { Context } from "aws-lambda";
import { startLocalApi } from "./api-server.js";
import {
  createCa,
  type DeviceOptions,
  exportPrivateKeyPem,
  type Issuer,
  issueDeviceCertificate,
  loadIssuer,
  SERVER_AUTH,
} from "./dev-pki.js";
import { firstConnect, type JitrMessage, registerCa, sqsEvent } from "./iot-simulator.js";
import { startMotoServer, useMotoEnvironment } from "./moto-server.js";

/**
 * The main job, locally: a moto-backed IoT Core and DynamoDB, a development CA, a demo batch, and
 * devices connecting for the first time, some of them bad. Prints what happened to each.
 */
const ROOT = new URL("../../", import.meta.url).pathname;
const STATE_DIR = join(ROOT, ".local");
const TABLE = "fleetgate-local";
// The one identity the local API accepts, as API Gateway would report it.
const LOCAL_OPERATOR = {
  accessKeyId: "AKIALOCALOPERATOR000",
  secretAccessKey: "local-operator-secret",
  userArn: "arn:aws:iam::123456789012:user/local-operator",
};
const POLICY = "fleetgate-device-local";
const BUCKET = "fleetgate-local-manifests";

const loadOrCreateCa = async (name: string, file: string): Promise<Issuer> => {
  const certPath = join(STATE_DIR, `${file}.pem`);
  const keyPath = join(STATE_DIR, `${file}.key`);
  if (existsSync(certPath) && existsSync(keyPath)) {
    return loadIssuer(readFileSync(certPath, "utf8"), readFileSync(keyPath, "utf8"));
  }
  const ca = await createCa({ name });
  mkdirSync(STATE_DIR, { recursive: true });
  writeFileSync(certPath, ca.pem);
  writeFileSync(keyPath, await exportPrivateKeyPem(ca.keys.privateKey), { mode: 0o600 });
  return ca;
};

interface DemoDevice {
  readonly label: string;
  readonly deviceId: string;
  readonly options: DeviceOptions;
  readonly issuer?: "impostor" | "other-line";
}

const DAY = 86_400_000;
const DEMO_DEVICES: readonly DemoDevice[] = [
  { label: "good EC P-256", deviceId: "demo-sensor-001", options: {} },
  { label: "good RSA 2048", deviceId: "demo-sensor-002", options: { key: { type: "RSA", bits: 2048 } } },
  {
    label: "good EC P-384",
    deviceId: "demo-sensor-003",
    options: { key: { type: "EC", curve: "P-384" }, hash: "SHA-384" },
  },
  { label: "clone of 001", deviceId: "demo-sensor-001", options: {} },
  { label: "not on the allowlist", deviceId: "demo-stranger-999", options: {} },
  {
    label: "expired",
    deviceId: "demo-sensor-004",
    options: { notBefore: new Date(Date.now() - 400 * DAY), notAfter: new Date(Date.now() - DAY) },
  },
  { label: "RSA 1024", deviceId: "demo-sensor-005", options: { key: { type: "RSA", bits: 1024 } } },
  { label: "server-auth only", deviceId: "demo-sensor-006", options: { extendedKeyUsages: [SERVER_AUTH] } },
  { label: "forged CA signature", deviceId: "demo-sensor-007", options: {}, issuer: "impostor" },
  { label: "other product line", deviceId: "demo-sensor-008", options: {}, issuer: "other-line" },
  { label: "wildcard in CN", deviceId: "demo-sensor-#", options: {} },
];

const MANIFEST = `deviceId,model,attr.color
${["001", "002", "003", "004", "005", "006", "007", "008"].map((n) => `demo-sensor-${n},thermo-2,blue`).join("\n")}
`;

const main = async (): Promise<void> => {
  const pythonEnv = spawnSync(process.execPath, [join(ROOT, "scripts/python-env.mjs")], { stdio: "inherit" });
  if (pythonEnv.status !== 0) throw new Error("could not prepare the Python environment for moto");
  const moto = await startMotoServer();
  try {
    useMotoEnvironment(moto.endpoint, { DEVICES_TABLE: TABLE, DEVICE_POLICY_NAME: POLICY });
    await run(moto.endpoint);
  } finally {
    await moto.stop();
  }
};

const run = async (endpoint: string): Promise<void> => {
  console.log(`moto server on ${endpoint}`);
  const iot = new IoTClient({});
  await new DynamoDBClient({}).send(
    new CreateTableCommand((await import("#adapters/table-definition.js")).lifecycleTableDefinition(TABLE)),
  );
  // The operations API hands out manifest uploads and queues recalls.
  await new S3Client({ forcePathStyle: true }).send(new CreateBucketCommand({ Bucket: BUCKET }));
  const queue = await new SQSClient({}).send(new CreateQueueCommand({ QueueName: "fleetgate-local-recall" }));
  Object.assign(process.env, { MANIFEST_BUCKET: BUCKET, RECALL_QUEUE_URL: queue.QueueUrl });

  const ca = await loadOrCreateCa("Fleetgate Development CA", "dev-ca");
  const otherLine = await loadOrCreateCa("Fleetgate Other Line CA", "other-line-ca");
  const impostor = await createCa({ name: "Fleetgate Development CA" });
  const caCertificateId = await registerCa(iot, ca);
  const otherLineId = await registerCa(iot, otherLine);
  console.log(`development CA ${caCertificateId} registered (kept in .local/)`);

  const { registerBatch } = await import("#app/register-batch.js");
  const { manifestDeps } = await import("#adapters/wiring.js");
  const deps = manifestDeps({
    DEVICES_TABLE: TABLE,
    THING_TYPE_NAME: undefined,
    FACTORY_PUBLIC_KEYS: undefined,
  });
  const batch = await registerBatch(deps, {
    open: () => [Buffer.from(MANIFEST)],
    caCertificateId,
    actor: "demo",
    source: "demo",
  });
  const replay = await registerBatch(deps, {
    open: () => [Buffer.from(MANIFEST)],
    caCertificateId,
    actor: "demo",
    source: "demo",
  });
  console.log(
    `batch ${batch.batch.batchId}: ${batch.batch.state}, ${batch.batch.counts?.accepted} devices allowed; sent again: replay=${replay.replay}`,
  );

  const messages: { device: DemoDevice; message: JitrMessage }[] = [];
  for (const device of DEMO_DEVICES) {
    const issuer = device.issuer === "impostor" ? impostor : device.issuer === "other-line" ? otherLine : ca;
    const issuerId = device.issuer === "other-line" ? otherLineId : caCertificateId;
    const certificate = await issueDeviceCertificate(issuer, {
      deviceId: device.deviceId,
      ...device.options,
    });
    messages.push({
      device,
      message: await firstConnect(iot, certificate, { pem: issuer.pem, caCertificateId: issuerId }),
    });
  }

  const { handler } = await import("#functions/jitr.js");
  const context = { functionName: "jitr-local", awsRequestId: "local" } as Context;
  // The good devices connect first, then the rest in one SQS batch, then everything once more: events repeat.
  await handler(sqsEvent(messages.slice(0, 3).map((m) => m.message)), context);
  const response = await handler(sqsEvent(messages.slice(3).map((m) => m.message)), context);
  const again = await handler(sqsEvent(messages.map((m) => m.message)), context);
  const { lifecycleStore } = await import("#adapters/wiring.js");
  const store = lifecycleStore({ DEVICES_TABLE: TABLE });

  const rows: string[][] = [];
  for (const { device, message } of messages) {
    const status =
      (await iot.send(new DescribeCertificateCommand({ certificateId: message.certificateId })))
        .certificateDescription?.status ?? "?";
    const { record } = await store.readProvisioningState(message.certificateId as never, undefined);
    const outcome =
      record?.outcome === "ASSIGNED" ? "PROVISIONED" : record?.outcome === "REJECTED" ? "REFUSED" : "-";
    const reason = record?.outcome === "REJECTED" ? `${record.refusal.code}: ${record.refusal.detail}` : "";
    rows.push([device.deviceId, device.label, outcome, status, reason]);
  }
  printTable(["device", "certificate", "outcome", "cert status", "reason"], rows);
  console.log(
    `failed records: ${response.batchItemFailures.length} (first pass), ${again.batchItemFailures.length} (repeated events)`,
  );
  await serveApi();
};

/** The operations API on a loopback port, and the CLI talking to it over SigV4 like it would to AWS. */
const serveApi = async (): Promise<void> => {
  const { handler } = await import("#functions/operations-api.js");
  const api = await startLocalApi(handler, [LOCAL_OPERATOR]);
  const cliEnv = {
    ...process.env,
    FLEETGATE_API_URL: api.url,
    AWS_ACCESS_KEY_ID: LOCAL_OPERATOR.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_OPERATOR.secretAccessKey,
  };
  // Asynchronous: the API answering the CLI runs in this very process.
  const cli = async (...args: string[]) => {
    console.log(`$ fleetgate ${args.join(" ")}`);
    const child = spawn(process.execPath, [join(ROOT, "bin/fleetgate.mjs"), ...args], {
      stdio: "inherit",
      env: cliEnv,
    });
    await new Promise((resolve) => child.once("close", resolve));
    console.log("");
  };
  console.log(`operations API on ${api.url} (SigV4, key ${LOCAL_OPERATOR.accessKeyId})\n`);
  await cli("device", "show", "demo-sensor-001");
  await cli("device", "suspend", "demo-sensor-002", "--reason", "demo: suspected tampering");
  await cli("device", "reactivate", "demo-sensor-002", "--idempotency-key", "demo-1");
  await cli("device", "list", "--state", "ACTIVE");
  await cli("batch", "list");
  if (!process.stdin.isTTY) {
    await api.close();
    return;
  }
  console.log("The API keeps serving; in another shell:");
  console.log(
    `  export FLEETGATE_API_URL=${api.url} AWS_ACCESS_KEY_ID=${LOCAL_OPERATOR.accessKeyId} AWS_SECRET_ACCESS_KEY=${LOCAL_OPERATOR.secretAccessKey}`,
  );
  console.log("  npx fleetgate device events demo-sensor-001");
  console.log("Ctrl-C stops it.");
  await new Promise<void>((resolve) => process.once("SIGINT", () => resolve()));
  await api.close();
};

const printTable = (header: string[], rows: string[][]): void => {
  const widths = header.map((h, i) =>
    Math.min(120, Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length))),
  );
  const line = (cells: string[]) =>
    cells.map((c, i) => c.slice(0, widths[i]).padEnd(widths[i] ?? 0)).join("  ");
  console.log(`\n${line(header)}\n${widths.map((w) => "-".repeat(w)).join("  ")}`);
  for (const row of rows) console.log(line(row));
  console.log("");
};

await main();
