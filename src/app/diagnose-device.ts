import { FLEET_ADVICE, REFUSAL_ADVICE, STATE_ADVICE } from "#domain/advice.js";
import type { CertificateRecord, Device, DeviceEventType } from "#domain/device.js";
import type { BatchId, CertificateId, DeviceId } from "#domain/ids.js";
import type { DeviceState } from "#domain/lifecycle.js";
import type { CertificateStatus } from "#domain/provisioning-decision.js";
import { describeRefusal } from "#domain/refusal.js";
import { statusOrDeleted } from "./certificate-description.js";
import type { DeviceLedger, DeviceRegistry, ProvisioningLedger } from "./ports.js";

export interface DiagnoseDeps {
  readonly store: Pick<DeviceLedger, "getDevice" | "pageEvents"> &
    Pick<ProvisioningLedger, "readProvisioningState">;
  readonly registry: Pick<DeviceRegistry, "describeCertificate">;
}

/** One certificate that tried to be this device: what fleetgate decided, and IoT Core's status now. */
export interface Attempt {
  readonly certificateId: CertificateId;
  /** When fleetgate last recorded something about it for this device. */
  readonly at: string;
  readonly outcome: "PROVISIONED" | "REFUSED" | "WAITING" | "IN PROGRESS";
  /** The check that failed, in an operator's words. */
  readonly diagnosis?: string;
  readonly certificateStatus: CertificateStatus | "DELETED";
  readonly waitingSince?: string;
  readonly connects?: number;
}

export interface Diagnosis {
  readonly deviceId: DeviceId;
  readonly onAllowlist: boolean;
  readonly state?: DeviceState;
  readonly batchId?: BatchId;
  /** Newest first, one per certificate, at most five. */
  readonly attempts: readonly Attempt[];
  /** What to do next. */
  readonly advice: string;
}

const ABOUT_A_CERTIFICATE: ReadonlySet<DeviceEventType> = new Set([
  "PROVISIONING_STARTED",
  "ACTIVATED",
  "PROVISIONING_FAILED",
  "CERTIFICATE_REFUSED",
  "CLONE_REFUSED",
  "CERTIFICATE_WAITING",
]);
const MAX_ATTEMPTS = 5;

const NEVER_SEEN =
  "fleetgate has seen no certificate naming this device, and no batch lists it. Check that the device connects to this account's IoT endpoint (sending it as SNI) with a certificate of a CA registered with auto-registration on, sending that CA in its chain, and retries after its first connect is closed.";

/**
 * "Why can't device X connect?": its allowlist entry, the last certificates that tried to be it
 * and what became of each, and what the operator can do. Answers for a device on no batch too.
 */
export const diagnoseDevice = async (deps: DiagnoseDeps, deviceId: DeviceId): Promise<Diagnosis> => {
  const [device, history] = await Promise.all([
    deps.store.getDevice(deviceId),
    deps.store.pageEvents(deviceId, { limit: 50, newestFirst: true }),
  ]);
  const latest = new Map<CertificateId, string>();
  for (const event of history.items)
    if (event.certificateId && ABOUT_A_CERTIFICATE.has(event.type) && !latest.has(event.certificateId))
      latest.set(event.certificateId, event.at);
  const attempts = await Promise.all(
    [...latest].slice(0, MAX_ATTEMPTS).map(([certificateId, at]) => attemptOf(deps, certificateId, at)),
  );
  return {
    deviceId,
    onAllowlist: device !== undefined,
    ...(device ? { state: device.state, batchId: device.batchId } : {}),
    attempts,
    advice: adviceFor(device, attempts[0]),
  };
};

const attemptOf = async (deps: DiagnoseDeps, certificateId: CertificateId, at: string): Promise<Attempt> => {
  const [{ record }, certificateStatus] = await Promise.all([
    deps.store.readProvisioningState(certificateId, undefined),
    statusOrDeleted(deps.registry, certificateId),
  ]);
  return { certificateId, at, certificateStatus, ...outcomeOf(record) };
};

const outcomeOf = (
  record: CertificateRecord | undefined,
): Pick<Attempt, "outcome" | "diagnosis" | "waitingSince" | "connects"> => {
  switch (record?.outcome) {
    case "ASSIGNED":
      return { outcome: "PROVISIONED" };
    case "REJECTED":
      return { outcome: "REFUSED", diagnosis: describeRefusal(record.refusal) };
    case "WAITING":
      return {
        outcome: "WAITING",
        diagnosis: describeRefusal(record.refusal),
        waitingSince: record.firstSeenAt,
        connects: record.attempts,
      };
    default:
      return { outcome: "IN PROGRESS" };
  }
};

const adviceFor = (device: Device | undefined, last: Attempt | undefined): string => {
  const code = last?.diagnosis?.split(":")[0] as keyof typeof REFUSAL_ADVICE | undefined;
  // The last certificate that tried was refused or waits, and is not the one the device holds.
  if (last && last.certificateId !== device?.certificate?.certificateId && code && code in REFUSAL_ADVICE)
    return REFUSAL_ADVICE[code];
  if (!device) return NEVER_SEEN;
  const reservedUntil = device.certificate?.reservedUntil;
  if (device.state === "PROVISIONING" && reservedUntil) return FLEET_ADVICE.reserved(reservedUntil);
  if (device.state === "ALLOWED" && !device.caCertificateId) return FLEET_ADVICE.allowedWithoutCa;
  return STATE_ADVICE[device.state];
};
