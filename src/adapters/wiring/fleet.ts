import type { ConfirmDeps } from "#app/confirm-reservation.js";
import type { PreProvisioningDeps } from "#app/pre-provision.js";
import { documentClient, iotClient } from "../aws-clients.js";
import type { FleetConfig } from "../config.js";
import { fleetLedger } from "../dynamodb/fleet.js";
import { provisioningLedger } from "../dynamodb/provisioning-ledger.js";
import { iotRegistry } from "../iot-registry.js";
import { systemClock } from "./shared.js";

/**
 * The pre-provisioning hook's dependencies. Its IoT client is not paced: it makes one call at most
 * per request (about an expired reservation's certificate), and waiting for a slot would spend the
 * seconds IoT Core gives the hook; a throttled call fails closed like any failure.
 */
export const preProvisioningDeps = (config: FleetConfig): PreProvisioningDeps => ({
  fleet: fleetLedger(documentClient(), config.DEVICES_TABLE),
  store: provisioningLedger(documentClient(), config.DEVICES_TABLE),
  registry: iotRegistry(iotClient()),
  clock: systemClock,
  certificatePolicy: { clockSkewMs: config.CLOCK_SKEW_SECONDS * 1000 },
  reservationMs: config.RESERVATION_SECONDS * 1000,
  budgetMs: config.HOOK_BUDGET_MS,
});

/** What confirming a reservation on a device's first connection needs: the table alone. */
export const confirmDeps = (config: Pick<FleetConfig, "DEVICES_TABLE">): ConfirmDeps => ({
  fleet: fleetLedger(documentClient(), config.DEVICES_TABLE),
  store: provisioningLedger(documentClient(), config.DEVICES_TABLE),
  clock: systemClock,
});
