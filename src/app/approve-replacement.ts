import type { DeviceEvent } from "#domain/device.js";
import { ConflictError, NotFoundError } from "#domain/errors.js";
import type { CaCertificateId, CertificateId, DeviceId } from "#domain/ids.js";
import {
  type ApprovalLimits,
  approveReplacement,
  describeLifetime,
  parseApprovalLifetime,
  type ReplacementApproval,
} from "#domain/replacement.js";
import { afterLostRace } from "./lost-race.js";
import type { Clock, DeviceLedger, ReplacementApprovals } from "./ports.js";

export interface ApprovalDeps {
  readonly store: Pick<DeviceLedger, "getDevice"> & Pick<ReplacementApprovals, "putApproval">;
  readonly clock: Clock;
  readonly approvalLimits: ApprovalLimits;
}

export interface ApprovalRequest {
  readonly deviceId: DeviceId;
  readonly certificateSha256: CertificateId;
  /** "12h", "30d"; the configured default when absent. */
  readonly expiresIn?: string;
  readonly reason?: string;
  /** Who approves: the operator's IAM identity, or a manifest's registrant. */
  readonly actor: string;
  /** What the approver expects the device to be (a manifest row states both): else a conflict. */
  readonly expected?: { readonly replaces: string; readonly caCertificateId: CaCertificateId };
}

const MAX_ATTEMPTS = 3;

/**
 * Approves, ahead of its first connection, the certificate that will replace an ACTIVE device's
 * (`fleetgate device expect-cert`). An approval given again for the same certificate starts its
 * time again; one for another certificate takes the earlier one's place. Both go into the history.
 */
export const expectCertificate = async (
  deps: ApprovalDeps,
  request: ApprovalRequest,
): Promise<ReplacementApproval> => {
  const lifetimeMs =
    request.expiresIn === undefined
      ? deps.approvalLimits.defaultMs
      : parseApprovalLifetime(request.expiresIn, deps.approvalLimits);
  for (let attempt = 1; ; attempt += 1) {
    const device = await deps.store.getDevice(request.deviceId);
    if (!device) throw new NotFoundError(`device ${request.deviceId} does not exist`);
    const expected = request.expected;
    if (expected && device.caCertificateId !== expected.caCertificateId)
      throw new ConflictError(
        `device ${device.deviceId} is of CA ${device.caCertificateId}: its replacement must come from the same CA`,
      );
    if (expected && device.certificate && device.certificate.certificateSha256 !== expected.replaces)
      throw new ConflictError(
        `device ${device.deviceId} holds certificate ${device.certificate.certificateSha256}, not ${expected.replaces}`,
      );
    const now = deps.clock.now();
    const approval = approveReplacement(
      device,
      {
        certificateSha256: request.certificateSha256,
        approvedBy: request.actor,
        lifetimeMs,
        ...(request.reason ? { reason: request.reason } : {}),
      },
      now,
    );
    const event: DeviceEvent = {
      deviceId: device.deviceId,
      at: approval.approvedAt,
      type: "REPLACEMENT_APPROVED",
      actor: request.actor,
      certificateId: approval.certificateSha256,
      reason: `${request.reason ? `${request.reason}: ` : ""}certificate ${approval.certificateSha256} may replace ${approval.replaces} until ${approval.expiresAt} (${describeLifetime(lifetimeMs)})`,
    };
    try {
      await deps.store.putApproval(device, approval, event);
      return approval;
    } catch (error) {
      // The device moved between the read and the write: decide again on what it is now.
      await afterLostRace(error, attempt, MAX_ATTEMPTS);
    }
  }
};

export interface ApprovalExpiryDeps {
  readonly store: ReplacementApprovals;
  readonly clock: Clock;
}

/**
 * Records the approvals that expired unused (REPLACEMENT_EXPIRED in the device's history) and
 * clears them; the certificates they named are clones from then on. At most `limit` per call.
 */
export const expireApprovals = async (
  deps: ApprovalExpiryDeps,
  { limit, actor }: { readonly limit: number; readonly actor: string },
): Promise<ReplacementApproval[]> => {
  const now = deps.clock.now().toISOString();
  const expired: ReplacementApproval[] = [];
  let cursor: string | undefined;
  do {
    const page = await deps.store.pageExpiredApprovals(now, {
      limit: Math.min(25, limit - expired.length),
      ...(cursor ? { cursor } : {}),
    });
    for (const approval of page.items) {
      const event: DeviceEvent = {
        deviceId: approval.deviceId,
        at: now,
        type: "REPLACEMENT_EXPIRED",
        actor,
        certificateId: approval.certificateSha256,
        reason: `the approval by ${approval.approvedBy} at ${approval.approvedAt} expired at ${approval.expiresAt} unused`,
      };
      if (await deps.store.expireApproval(approval, event)) expired.push(approval);
    }
    cursor = page.cursor;
  } while (cursor && expired.length < limit);
  return expired;
};
