import type { DeviceEvent } from "#domain/device.js";
import { DependencyRejectedError, NotFoundError } from "#domain/errors.js";
import type { CertificateId } from "#domain/ids.js";
import {
  completed,
  decideTimer,
  type RotationTimer,
  rolledBack,
  type TimerDecision,
} from "#domain/rotation.js";
import { afterLostRace } from "./lost-race.js";
import type { Clock, DeviceRegistry, ParkedTimers, RotationLedger, TimerQueue } from "./ports.js";

/**
 * A rotation's timers: its commit deadline, and the end of its grace period. A timer due within
 * what a queue can delay (15 minutes for SQS) is sent delayed; a later one is parked in the table
 * and a periodic sweep queues it once it comes within reach, so a day's grace period costs one
 * parked item and one message, not a message every 15 minutes.
 */
export const TIMER_QUEUE_MAX_SECONDS = 900;

export interface TimerDeps {
  readonly timerQueue: TimerQueue;
  readonly parkedTimers: Pick<ParkedTimers, "park">;
  readonly clock: Clock;
}

export const setTimer = async (deps: TimerDeps, timer: RotationTimer): Promise<void> => {
  const delay = Math.ceil((Date.parse(timer.dueAt) - deps.clock.now().getTime()) / 1000);
  if (delay <= TIMER_QUEUE_MAX_SECONDS) await deps.timerQueue.send(timer, Math.max(0, delay));
  else await deps.parkedTimers.park(timer);
};

/** Queues the parked timers due within a queue's reach; answers how many. */
export const releaseParkedTimers = async (
  deps: TimerDeps & { readonly parkedTimers: ParkedTimers },
  { pageSize = 200 }: { readonly pageSize?: number } = {},
): Promise<number> => {
  let released = 0;
  for (;;) {
    const reach = new Date(deps.clock.now().getTime() + TIMER_QUEUE_MAX_SECONDS * 1000).toISOString();
    const due = await deps.parkedTimers.dueBefore(reach, pageSize);
    for (const timer of due) {
      // Queued before unparked: a crash in between queues it twice, and a timer runs idempotently.
      await setTimer(deps, timer);
      await deps.parkedTimers.unpark(timer);
    }
    released += due.length;
    if (due.length < pageSize) return released;
  }
};

export interface TimerRunDeps extends TimerDeps {
  readonly ledger: Pick<RotationLedger, "getDevice" | "saveRotation">;
  readonly registry: Pick<DeviceRegistry, "updateCertificateStatus" | "describeCertificate">;
}

export type TimerOutcome = Exclude<TimerDecision["kind"], "finish"> | "finished";

export const TIMER_ACTOR = "rotation-timer";
const MAX_ATTEMPTS = 3;

/**
 * Runs a timer that came due: rolls back a rotation never committed, or ends a grace period. The
 * step is recorded first with the certificate's place in the retirement queue, conditional on the
 * device's version (so a commit racing its deadline either lands first and the timer finds it, or
 * loses), then the certificate is revoked: a redelivery after a crash in between revokes it. (The
 * retirement job leaves a certificate that is still ACTIVE alone.)
 */
export const runTimer = async (deps: TimerRunDeps, timer: RotationTimer): Promise<TimerOutcome> => {
  for (let attempt = 1; ; attempt += 1) {
    const now = deps.clock.now();
    const decision = decideTimer(timer, await deps.ledger.getDevice(timer.deviceId), now);
    try {
      switch (decision.kind) {
        case "wait":
          await setTimer(deps, timer);
          return "wait";
        case "drop":
          return "drop";
        case "roll-back": {
          const { device, rotation } = decision;
          const certificateId = rotation.issued.certificateId;
          const why = `no commit over ${certificateId} by ${rotation.commitBy}`;
          await deps.ledger.saveRotation(device, {
            rotation: rolledBack(rotation, now, why),
            events: [event(device.deviceId, now, "ROTATION_ROLLED_BACK", certificateId, why)],
            retire: { certificateId, deviceId: device.deviceId, since: now.toISOString(), why: "REVOKED" },
          });
          await revokeCertificate(deps, certificateId);
          return "roll-back";
        }
        case "complete": {
          const { device, rotation } = decision;
          const certificateId = rotation.replaced.certificateId;
          const why = `grace period of ${certificateId} ended: revoked`;
          await deps.ledger.saveRotation(device, {
            rotation: completed(rotation, now),
            events: [event(device.deviceId, now, "ROTATION_COMPLETED", certificateId, why)],
            retire: { certificateId, deviceId: device.deviceId, since: now.toISOString(), why: "REPLACED" },
          });
          await revokeCertificate(deps, certificateId);
          return "complete";
        }
        case "finish":
          await revokeCertificate(deps, decision.certificate.certificateId);
          return "finished";
      }
    } catch (error) {
      await afterLostRace(error, attempt, MAX_ATTEMPTS);
    }
  }
};

/**
 * Revokes a certificate; one already revoked (IoT Core may refuse to set REVOKED again) or no
 * longer in IoT Core (retired) counts as revoked. Any other refusal is thrown.
 */
export const revokeCertificate = async (
  deps: { readonly registry: Pick<DeviceRegistry, "updateCertificateStatus" | "describeCertificate"> },
  certificateId: CertificateId,
): Promise<void> => {
  try {
    await deps.registry.updateCertificateStatus(certificateId, "REVOKED");
  } catch (error) {
    if (error instanceof NotFoundError) return;
    if (!(error instanceof DependencyRejectedError)) throw error;
    const status = await deps.registry.describeCertificate(certificateId).then(
      (description) => description.status,
      (failure: unknown) => {
        if (failure instanceof NotFoundError) return "REVOKED";
        throw failure;
      },
    );
    if (status !== "REVOKED") throw error;
  }
};

const event = (
  deviceId: RotationTimer["deviceId"],
  now: Date,
  type: DeviceEvent["type"],
  certificateId: CertificateId,
  reason: string,
): DeviceEvent => ({ deviceId, at: now.toISOString(), type, actor: TIMER_ACTOR, certificateId, reason });
