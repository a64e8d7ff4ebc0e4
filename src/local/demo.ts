import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DescribeCertificateCommand, IoTClient } from "@aws-sdk/client-iot";
import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import { certificateIdOf } from "#domain/certificate.js";
import {
  createCa,
  type DeviceOptions,
  exportPrivateKeyPem,
  type Issuer,
  issueDeviceCertificate,
  loadIssuer,
  SERVER_AUTH,
} from "./dev-pki.js";
import { connectOnce, connectWithRetries, type DeviceSession, type FirstConnection } from "./device.js";
import { localCli } from "./local-cli.js";
import type { LocalStack } from "./local-stack.js";
import { localClientConfig } from "./ministack.js";
import { registerCaForJitr } from "./register-ca.js";

/**
 * The main job on the deployed stack: the development CA registered, a batch registered through the
 * deployed API with the CLI, good and hostile devices connecting over mutual TLS as firmware does,
 * then a table of what each device saw beside what fleetgate recorded, a revocation and a recall.
 */
const ROOT = new URL("../../", import.meta.url).pathname;
const STATE_DIR = join(ROOT, ".local");
const DAY = 86_400_000;

interface DemoDevice {
  readonly label: string;
  readonly deviceId: string;
  readonly options: DeviceOptions;
  readonly issuer?: "impostor" | "other-line";
}

const LINE = "demo-line-1";
const LOT = "demo-lot-9";
const DEVICES: readonly DemoDevice[] = [
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
  { label: "a CA certificate", deviceId: "demo-sensor-009", options: { isCa: true } },
];
const LOT_DEVICES = ["demo-lot-9-a", "demo-lot-9-b"];

export interface DemoRow {
  readonly device: string;
  readonly certificate: string;
  readonly deviceSaw: string;
  readonly recorded: string;
  readonly certificateStatus: string;
}

export interface DemoReport {
  readonly rows: readonly DemoRow[];
  /** Milliseconds from a good device's first CONNECT to its first acknowledged publish. */
  readonly firstPublishMs: readonly number[];
}

const loadOrCreateCa = async (name: string, file: string): Promise<Issuer> => {
  const certificatePath = join(STATE_DIR, `${file}.pem`);
  const keyPath = join(STATE_DIR, `${file}.key`);
  if (existsSync(certificatePath) && existsSync(keyPath))
    return loadIssuer(readFileSync(certificatePath, "utf8"), readFileSync(keyPath, "utf8"));
  const ca = await createCa({ name });
  mkdirSync(STATE_DIR, { recursive: true });
  writeFileSync(certificatePath, ca.pem);
  writeFileSync(keyPath, await exportPrivateKeyPem(ca.keys.privateKey), { mode: 0o600 });
  return ca;
};

export const runDemo = async (stack: LocalStack, say: (line: string) => void): Promise<DemoReport> => {
  const config = localClientConfig(stack.aws);
  const iot = new IoTClient(config);
  const db = DynamoDBDocumentClient.from(new DynamoDBClient(config));
  const table = stack.stack.outputs.DevicesTableName ?? "";
  const cli = localCli(stack);
  const sessions: DeviceSession[] = [];

  const ca = await loadOrCreateCa("Fleetgate Development CA", "dev-ca");
  const otherLine = await loadOrCreateCa("Fleetgate Other Line CA", "other-line-ca");
  const impostor = await createCa({ name: "Fleetgate Development CA" });
  say("$ fleetgate ca register .local/dev-ca.pem --key .local/dev-ca.key");
  const onboarded = await cli([
    "ca",
    "register",
    join(STATE_DIR, "dev-ca.pem"),
    "--key",
    join(STATE_DIR, "dev-ca.key"),
    "--json",
  ]);
  if (onboarded.code !== 0) throw new Error(`ca register failed (${onboarded.code}): ${onboarded.stderr}`);
  const caCertificateId = (JSON.parse(onboarded.stdout) as { caCertificateId: string }).caCertificateId;
  await registerCaForJitr(iot, otherLine);
  say(`  development CA ${caCertificateId} ACTIVE, auto-registration on (kept in .local/)`);

  const register = async (batchId: string, deviceIds: readonly string[]) => {
    const manifest = join(STATE_DIR, `${batchId}.csv`);
    writeFileSync(
      manifest,
      `deviceId,model,attr.color\n${deviceIds.map((id) => `${id},thermo-2,blue`).join("\n")}\n`,
    );
    say(`$ fleetgate batch register ${manifest} --ca ${caCertificateId.slice(0, 12)}… --batch-id ${batchId}`);
    const result = await cli([
      "batch",
      "register",
      manifest,
      "--ca",
      caCertificateId,
      "--batch-id",
      batchId,
      "--json",
    ]);
    if (result.code !== 0) throw new Error(`batch register failed (${result.code}): ${result.stderr}`);
    const batch = (JSON.parse(result.stdout) as { batch: { state: string; counts?: { accepted?: number } } })
      .batch;
    say(`  ${batch.state}, ${batch.counts?.accepted ?? 0} devices on the allowlist`);
  };
  const listed = [
    ...new Set(DEVICES.filter((d) => d.deviceId.startsWith("demo-sensor")).map((d) => d.deviceId)),
  ];
  await register(LINE, listed);
  await register(LOT, LOT_DEVICES);

  say(
    `\n${DEVICES.length + LOT_DEVICES.length} devices connect to ${stack.mqtt.serverName}:${stack.mqtt.port} (mutual TLS, SNI) and retry with backoff…`,
  );
  const identityOf = async (deviceId: string, options: DeviceOptions, issuer: Issuer) => {
    const certificate = await issueDeviceCertificate(issuer, { deviceId, ...options });
    return {
      certificatePem: certificate.pem,
      identity: {
        clientId: deviceId,
        certificateChainPem: `${certificate.pem}\n${issuer.pem}\n`,
        privateKeyPem: await exportPrivateKeyPem(certificate.keys.privateKey),
      },
    };
  };
  const issuerOf = (device: DemoDevice) =>
    device.issuer === "impostor" ? impostor : device.issuer === "other-line" ? otherLine : ca;
  const prepared = await Promise.all(
    [...DEVICES, ...LOT_DEVICES.map((deviceId) => ({ label: "recall lot", deviceId, options: {} }))].map(
      async (device) => ({
        device,
        ...(await identityOf(device.deviceId, device.options, issuerOf(device))),
      }),
    ),
  );
  // The clone connects once its original holds the identity.
  const connectAll = async (devices: typeof prepared) =>
    Promise.all(
      devices.map(async (entry) => {
        const connection = await connectWithRetries(entry.identity, stack.mqtt, { maxAttempts: 7 });
        say(`  ${entry.device.deviceId.padEnd(18)} ${describeConnection(connection)}`);
        let published = false;
        let firstPublishMs = 0;
        if (connection.session) {
          sessions.push(connection.session);
          const publishing = Date.now();
          await connection.session.publish(`devices/${entry.device.deviceId}/telemetry`, '{"celsius":21.5}');
          published = true;
          firstPublishMs = connection.elapsedMs + (Date.now() - publishing);
        }
        return { ...entry, connection, published, firstPublishMs };
      }),
    );
  const clone = prepared.find((p) => p.device.label === "clone of 001");
  const connected = [
    ...(await connectAll(prepared.filter((p) => p !== clone))),
    ...(await connectAll(clone ? [clone] : [])),
  ];

  const read = async (entry: (typeof connected)[number]): Promise<Verdict> => {
    const certificateId = certificateIdOf(entry.certificatePem);
    const get = async (pk: string, sk: string) =>
      (await db.send(new GetCommand({ TableName: table, Key: { pk, sk }, ConsistentRead: true }))).Item;
    return {
      record: await get(`CERT#${certificateId}`, "CERT"),
      device: await get(`DEVICE#${entry.device.deviceId}`, "STATE"),
      certificateStatus: await certificateStatus(iot, certificateId),
    };
  };
  const rows: DemoRow[] = [];
  for (const entry of connected) {
    const verdict = await settled(() => read(entry));
    rows.push({
      device: entry.device.deviceId,
      certificate: entry.device.label,
      deviceSaw: entry.connection.session
        ? `accepted on connect ${entry.connection.attempts.length}${entry.published ? ", published" : ""}`
        : `refused ${entry.connection.attempts.length} times`,
      recorded: describeRecord(verdict.record, verdict.device),
      certificateStatus: verdict.certificateStatus,
    });
  }
  printTable(say, ["device", "certificate", "device saw", "fleetgate recorded", "cert status"], rows);

  say(`$ fleetgate device revoke demo-sensor-003 --reason "demo: reported stolen"`);
  const revoked = await cli([
    "device",
    "revoke",
    "demo-sensor-003",
    "--reason",
    "demo: reported stolen",
    "--json",
  ]);
  const revokedAnswer = JSON.parse(revoked.stdout || "{}") as {
    device?: { state?: string };
    connection?: string;
  };
  say(
    `  ${revokedAnswer.device?.state ?? `exit ${revoked.code}`}, live connection ${revokedAnswer.connection ?? "?"}`,
  );
  const reconnect = connected.find((c) => c.device.label === "good EC P-384");
  if (reconnect) {
    const outcome = await connectOnce(reconnect.identity, stack.mqtt);
    if (outcome.kind === "accepted") sessions.push(outcome.session);
    say(`  demo-sensor-003 connects again: ${outcome.kind}`);
  }

  say(`$ fleetgate batch recall ${LOT} --reason "demo: lot recalled"`);
  await cli(["batch", "recall", LOT, "--reason", "demo: lot recalled"]);
  const recall = await waitForRecall(cli, LOT);
  say(`  recall ${recall}: ${LOT_DEVICES.join(", ")} revoked by the recall worker`);

  await Promise.all(sessions.map((session) => session.end()));
  const firstPublishMs = connected
    .filter((c) => c.published && c.device.label.startsWith("good"))
    .map((c) => c.firstPublishMs);
  return { rows, firstPublishMs };
};

const describeConnection = (connection: FirstConnection): string =>
  connection.session
    ? `accepted after ${connection.attempts.length - 1} closed CONNECT(s), ${connection.elapsedMs} ms`
    : `never accepted (${connection.attempts.length} CONNECTs)`;

/** What fleetgate and IoT Core say of one certificate. */
interface Verdict {
  readonly record: Record<string, unknown> | undefined;
  readonly device: Record<string, unknown> | undefined;
  readonly certificateStatus: string;
}

/**
 * A device's last connect may be answered before the JITR function is done with it (a certificate
 * is activated before the device is recorded ACTIVE, a refusal recorded before the revocation):
 * read again, for a few seconds at most, until the verdict is whole.
 */
const settled = async (read: () => Promise<Verdict>): Promise<Verdict> => {
  const whole = ({ record, device, certificateStatus }: Verdict): boolean => {
    switch (record?.outcome) {
      case "ASSIGNED":
        return device?.state === "ACTIVE";
      case "REJECTED":
        return certificateStatus === "REVOKED";
      case "WAITING":
        return true;
      default:
        return certificateStatus === "not registered";
    }
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    const verdict = await read();
    if (whole(verdict) || Date.now() > deadline) return verdict;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
};

const describeRecord = (
  record: Record<string, unknown> | undefined,
  device: Record<string, unknown> | undefined,
): string => {
  const refusal = record?.refusal as { code?: string; detail?: string } | undefined;
  switch (record?.outcome) {
    case "ASSIGNED":
      return `${String(device?.state ?? "?")} (provisioned)`;
    case "REJECTED":
      return `REFUSED ${refusal?.code}: ${refusal?.detail}`;
    case "WAITING":
      return `WAITING ${refusal?.code}: ${refusal?.detail}`;
    default:
      return "nothing: IoT Core refused the TLS handshake, no certificate was registered";
  }
};

const certificateStatus = async (iot: IoTClient, certificateId: string): Promise<string> => {
  try {
    return (
      (await iot.send(new DescribeCertificateCommand({ certificateId }))).certificateDescription?.status ??
      "?"
    );
  } catch {
    return "not registered";
  }
};

const waitForRecall = async (cli: ReturnType<typeof localCli>, batchId: string): Promise<string> => {
  for (let waited = 0; waited < 60_000; waited += 500) {
    const shown = await cli(["batch", "show", batchId, "--json"]);
    const state = (JSON.parse(shown.stdout || "{}") as { recall?: { state?: string } }).recall?.state;
    if (state === "RECALLED") return state;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return "still RECALLING";
};

const printTable = (say: (line: string) => void, header: string[], rows: DemoRow[]): void => {
  const cells = rows.map((r) => [r.device, r.certificate, r.deviceSaw, r.recorded, r.certificateStatus]);
  const widths = header.map((h, i) =>
    Math.min(90, Math.max(h.length, ...cells.map((r) => (r[i] ?? "").length))),
  );
  const line = (row: string[]) => row.map((c, i) => c.slice(0, widths[i]).padEnd(widths[i] ?? 0)).join("  ");
  say(`\n${line(header)}\n${widths.map((w) => "-".repeat(w)).join("  ")}`);
  for (const row of cells) say(line(row));
  say("");
};
