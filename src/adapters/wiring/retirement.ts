import type { RetirementRunDeps } from "#app/retire-certificates.js";
import { documentClient, iotClient } from "../aws-clients.js";
import type { RetirementConfig } from "../config.js";
import { deviceReader } from "../dynamodb/device-ledger.js";
import { replacementApprovals } from "../dynamodb/replacement-approvals.js";
import { retirementLedger } from "../dynamodb/retirement-ledger.js";
import { iotInventory } from "../iot-inventory.js";
import { iotRegistry } from "../iot-registry.js";
import { iotPacer, systemClock } from "./shared.js";

/**
 * What the retirement job needs: of the table only its roles (the queue and its checkpoint, the
 * approvals, devices read by key), so the function holds none of the table's other writes; IoT
 * Core's registry, and the inventory's listing of the Things that hold a certificate, paced as
 * background work of the deployment's IoT budget.
 */
export const retirementDeps = (config: RetirementConfig): RetirementRunDeps => {
  const db = documentClient();
  return {
    store: {
      ...retirementLedger(db, config.DEVICES_TABLE),
      ...replacementApprovals(db, config.DEVICES_TABLE),
      ...deviceReader(db, config.DEVICES_TABLE),
    },
    registry: iotRegistry(iotClient(), iotPacer(config, "background")),
    inventory: iotInventory(iotClient(), iotPacer(config, "background")),
    clock: systemClock,
    retentionMs: config.CERTIFICATE_RETENTION_DAYS * 86_400_000,
    pause: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  };
};
