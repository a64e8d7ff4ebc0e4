import { randomUUID } from "node:crypto";
import type { CampaignDeps, RequestDeps } from "#app/request-rotation.js";
import type { RotationDeps } from "#app/rotate-certificate.js";
import type { TimerRunDeps } from "#app/rotation-timers.js";
import { rotationsPerMinute } from "#domain/rotation.js";
import { documentClient, iotClient, sqsClient } from "../aws-clients.js";
import type { BudgetConfig, RotationConfig, RotationRequestConfig } from "../config.js";
import { IOT_BUDGET_DEFAULTS } from "../config.js";
import { deviceReader } from "../dynamodb/device-ledger.js";
import { parkedTimers, rotationCampaigns, rotationLedger } from "../dynamodb/rotations.js";
import { iotDataPlane } from "../iot-connections.js";
import { IOT_QUOTAS } from "../iot-quotas.js";
import { iotRegistry } from "../iot-registry.js";
import { iotCertificateIssuer, iotDeviceJobs, iotDeviceMessages } from "../iot-rotation.js";
import { sqsRotationWork } from "../rotation-messages.js";
import { iotPacer, systemClock } from "./shared.js";

/**
 * Rotation's adapters. Its IoT calls are background work for the deployment's IoT budget: first
 * connections are served first, and a rotation the budget cannot serve in time is re-queued.
 */
const windowsOf = (config: Pick<RotationConfig, "ROTATION_COMMIT_SECONDS" | "ROTATION_GRACE_SECONDS">) => ({
  commitWithinSeconds: config.ROTATION_COMMIT_SECONDS,
  graceSeconds: config.ROTATION_GRACE_SECONDS,
});

const timersOf = (config: Pick<RotationConfig, "DEVICES_TABLE" | "ROTATION_WORK_QUEUE_URL">) => ({
  timerQueue: sqsRotationWork(sqsClient(), config.ROTATION_WORK_QUEUE_URL),
  parkedTimers: parkedTimers(documentClient(), config.DEVICES_TABLE),
  clock: systemClock,
});

/** The rotation function's: a device's request and its commit. */
export const rotationDeps = (config: RotationConfig): RotationDeps => {
  const iot = iotClient();
  const pacer = iotPacer(config, "background");
  return {
    ...timersOf(config),
    ledger: rotationLedger(documentClient(), config.DEVICES_TABLE),
    registry: iotRegistry(iot, pacer),
    issuer: iotCertificateIssuer(iot, pacer),
    messages: iotDeviceMessages(
      iotDataPlane(iot, { endpointOverridden: config.AWS_ENDPOINT_URL !== undefined }),
      config.TOPIC_PREFIX,
    ),
    newId: randomUUID,
    windows: windowsOf(config),
    deviceIdField: config.DEVICE_ID_FIELD,
  };
};

/**
 * Devices told to rotate a minute: what the deployment's share of the account's IoT quotas
 * sustains for the calls a rotation makes (rotation.ts, ROTATION_IOT_CALLS).
 */
export const rotationPace = (config: Partial<BudgetConfig>): number =>
  rotationsPerMinute(IOT_QUOTAS, config.IOT_QUOTA_SHARE ?? IOT_BUDGET_DEFAULTS.IOT_QUOTA_SHARE);

/** An operator's request (the operations API) and a campaign's pages (the rotation worker). */
export const rotationRequestDeps = (config: RotationRequestConfig): CampaignDeps & RequestDeps => {
  const db = documentClient();
  return {
    ledger: rotationLedger(db, config.DEVICES_TABLE),
    jobs: iotDeviceJobs(iotClient(), config.THING_ARN_PREFIX, iotPacer(config, "background")),
    clock: systemClock,
    newId: randomUUID,
    windows: windowsOf(config),
    perMinute: rotationPace(config),
    campaigns: rotationCampaigns(db, config.DEVICES_TABLE),
    queue: sqsRotationWork(sqsClient(), config.ROTATION_WORK_QUEUE_URL),
    store: deviceReader(db, config.DEVICES_TABLE),
    // A campaign reads the expiry watch's devices only; the CAs it also reports are not asked for.
    expiry: { inventory: { caCertificates: async () => [] } },
  };
};

/** The rotation worker's timers: revocations, at the commit deadline or the grace period's end. */
export const timerRunDeps = (config: RotationRequestConfig): TimerRunDeps & ReturnType<typeof timersOf> => ({
  ...timersOf(config),
  ledger: rotationLedger(documentClient(), config.DEVICES_TABLE),
  registry: iotRegistry(iotClient(), iotPacer(config, "background")),
});
