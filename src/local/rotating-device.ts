import { createCertificateRequest, exportPrivateKeyPem, type KeySpec } from "./dev-pki.js";
import type { Answer, DeviceIdentity, DeviceSession } from "./device.js";

/**
 * A device's side of a certificate rotation, as firmware does it (README "Rotation"): it makes a
 * new key and asks, over its current certificate's connection, for a certificate of it; it keeps
 * its current certificate until its new one works; it reconnects with the new one and commits over
 * that connection. Told by an IoT job, it takes the job, rotates, and reports the job's outcome.
 */
export const ROTATION_JOB_OPERATION = "fleetgate.rotate-certificate";

export interface IssuedIdentity {
  readonly rotationId: string;
  readonly certificateId: string;
  readonly commitBy: string;
  /** The new certificate with the new key: what the device connects with from now on. */
  readonly identity: DeviceIdentity;
}

export type RequestOutcome =
  | ({ readonly kind: "accepted" } & IssuedIdentity)
  | { readonly kind: "rejected"; readonly code: string; readonly message: string };

const topicOf = (prefix: string, deviceId: string, step: "csr" | "commit") =>
  `${prefix}/${deviceId}/rotation/${step}`;

/** Asks for a certificate of a new key over `session` (the current certificate's connection). */
export const requestCertificate = async (
  session: DeviceSession,
  deviceId: string,
  options: { readonly topicPrefix?: string; readonly key?: KeySpec; readonly subject?: string } = {},
): Promise<RequestOutcome> => {
  const request = await createCertificateRequest({
    ...(options.subject ? { subject: options.subject } : { deviceId }),
    ...(options.key ? { key: options.key } : {}),
  });
  const answer = await session.ask(topicOf(options.topicPrefix ?? "devices", deviceId, "csr"), {
    csr: request.pem,
  });
  if (!answer.accepted) return rejected(answer);
  const body = answer.body as {
    rotationId: string;
    certificateId: string;
    certificatePem: string;
    commitBy: string;
  };
  return {
    kind: "accepted",
    rotationId: body.rotationId,
    certificateId: body.certificateId,
    commitBy: body.commitBy,
    identity: {
      clientId: deviceId,
      // IoT Core knows the certificate it issued: the device presents it alone.
      certificateChainPem: body.certificatePem,
      privateKeyPem: await exportPrivateKeyPem(request.keys.privateKey),
    },
  };
};

/** Commits a rotation over `session`: counted only when it is the new certificate's connection. */
export const commitRotation = async (
  session: DeviceSession,
  deviceId: string,
  options: { readonly topicPrefix?: string; readonly rotationId?: string } = {},
): Promise<
  | { readonly kind: "accepted"; readonly body: Record<string, unknown> }
  | Extract<RequestOutcome, { kind: "rejected" }>
> => {
  const answer = await session.ask(
    topicOf(options.topicPrefix ?? "devices", deviceId, "commit"),
    options.rotationId ? { rotationId: options.rotationId } : {},
  );
  return answer.accepted ? { kind: "accepted", body: answer.body } : rejected(answer);
};

const rejected = (answer: Answer) => ({
  kind: "rejected" as const,
  code: String(answer.body.code),
  message: String(answer.body.message),
});

export interface RotationJob {
  readonly jobId: string;
  readonly document: Record<string, unknown>;
}

/**
 * The next job execution IoT Jobs has for the device, started (IN_PROGRESS): it asks, and when
 * nothing is pending yet, waits for IoT Jobs' notify-next and asks again.
 */
export const takeNextJob = async (
  session: DeviceSession,
  deviceId: string,
  timeoutMs = 30_000,
): Promise<RotationJob> => {
  const base = `$aws/things/${deviceId}/jobs`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const notified = session.nextMessage(`${base}/notify-next`, Math.max(1, deadline - Date.now()));
    notified.catch(() => undefined);
    const answer = await session.ask(`${base}/start-next`, {});
    const execution = answer.body.execution as
      | { jobId?: string; jobDocument?: Record<string, unknown> }
      | undefined;
    if (answer.accepted && execution?.jobId)
      return { jobId: execution.jobId, document: execution.jobDocument ?? {} };
    await notified;
  }
};

/** Reports the job's outcome, as the device's last step of it. */
export const finishJob = (session: DeviceSession, deviceId: string, job: RotationJob, succeeded: boolean) =>
  session.ask(`$aws/things/${deviceId}/jobs/${job.jobId}/update`, {
    status: succeeded ? "SUCCEEDED" : "FAILED",
  });
