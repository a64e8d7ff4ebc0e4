import type { CaCertificateId, CertificateId, DeviceId } from "#domain/ids.js";
import type { DeviceState } from "#domain/lifecycle.js";
import type { Clock, DeviceLedger, IotInventory } from "./ports.js";
import { decodeWalkCursor, encodeWalkCursor } from "./walk-cursor.js";

/**
 * The expiry watch: device certificates (of devices that may connect: ACTIVE and SUSPENDED, from
 * their records' notAfter) and CA certificates (from IoT Core) that expire within a horizon, or
 * have expired, so that their rotation can be planned.
 */
export const DEVICE_HORIZON_DAYS = 30;
export const CA_HORIZON_DAYS = 90;

export interface ExpiringDevice {
  readonly deviceId: DeviceId;
  readonly state: DeviceState;
  readonly certificateId: CertificateId;
  readonly notAfter: string;
  /** Whole days left, rounded down; negative once expired. */
  readonly daysLeft: number;
}

export interface ExpiringCa {
  readonly caCertificateId: CaCertificateId;
  readonly status: "ACTIVE" | "INACTIVE";
  readonly notAfter: string;
  readonly daysLeft: number;
}

export interface ExpiryReport {
  readonly deviceDays: number;
  readonly caDays: number;
  /** Soonest first within what this call examined. */
  readonly devices: readonly ExpiringDevice[];
  /** Listed by the first call of a walk (the one without a cursor). */
  readonly cas?: readonly ExpiringCa[];
  /** Device records examined. */
  readonly examined: number;
  /** Where the next call goes on; absent when every device was examined. */
  readonly cursor?: string;
}

export interface ExpiryDeps {
  readonly store: Pick<DeviceLedger, "pageDevices">;
  readonly inventory: Pick<IotInventory, "caCertificates">;
  readonly clock: Clock;
}

export interface ExpiryRequest {
  readonly deviceDays?: number;
  readonly caDays?: number;
  /** Device records to examine at most in this call. */
  readonly limit: number;
  readonly cursor?: string;
}

const STATES: readonly DeviceState[] = ["ACTIVE", "SUSPENDED"];
const WALK = "expiring";
const PAGE = 500;
const DAY_MS = 86_400_000;

export const watchExpiry = async (deps: ExpiryDeps, request: ExpiryRequest): Promise<ExpiryReport> => {
  const now = deps.clock.now().getTime();
  const deviceDays = request.deviceDays ?? DEVICE_HORIZON_DAYS;
  const caDays = request.caDays ?? CA_HORIZON_DAYS;
  const daysLeft = (notAfter: string) => Math.floor((Date.parse(notAfter) - now) / DAY_MS);
  const cas =
    request.cursor === undefined
      ? (await deps.inventory.caCertificates())
          .filter((ca) => Date.parse(ca.notAfter) - now <= caDays * DAY_MS)
          .map((ca) => ({ ...ca, daysLeft: daysLeft(ca.notAfter) }))
          .sort((a, b) => a.notAfter.localeCompare(b.notAfter))
      : undefined;

  let position = decodeWalkCursor(WALK, STATES.length, request.cursor);
  const devices: ExpiringDevice[] = [];
  let examined = 0;
  let cursor: string | undefined;
  for (;;) {
    const state = STATES[position.step] as DeviceState;
    const page = await deps.store.pageDevices(
      { state },
      {
        limit: Math.min(PAGE, request.limit - examined),
        ...(position.inner ? { cursor: position.inner } : {}),
      },
    );
    examined += page.items.length;
    for (const device of page.items) {
      const certificate = device.certificate;
      if (certificate && Date.parse(certificate.notAfter) - now <= deviceDays * DAY_MS)
        devices.push({
          deviceId: device.deviceId,
          state: device.state,
          certificateId: certificate.certificateId,
          notAfter: certificate.notAfter,
          daysLeft: daysLeft(certificate.notAfter),
        });
    }
    if (page.cursor) position = { step: position.step, inner: page.cursor };
    else if (position.step + 1 < STATES.length) position = { step: position.step + 1 };
    else break;
    if (examined >= request.limit) {
      cursor = encodeWalkCursor(WALK, position);
      break;
    }
  }
  return {
    deviceDays,
    caDays,
    devices: devices.sort((a, b) => a.notAfter.localeCompare(b.notAfter)),
    ...(cas ? { cas } : {}),
    examined,
    ...(cursor ? { cursor } : {}),
  };
};
