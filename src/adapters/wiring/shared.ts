import type { Clock, LifecycleStore } from "#app/ports.js";
import { documentClient, dynamoDbClient } from "../aws-clients.js";
import { type BudgetConfig, IOT_BUDGET_DEFAULTS, type StoreConfig } from "../config.js";
import { dynamoDbScheduleStore } from "../dynamodb/iot-budget-schedules.js";
import { dynamoDbLifecycleStore } from "../dynamodb-lifecycle-store.js";
import { type IotPacer, iotBudget, type Priority } from "../iot-budget.js";

// The wiring hands every use case the whole table, whatever role its port names, so deps built
// for one use case can be spread into another's.
export type WithTable<T> = Omit<T, "store"> & { readonly store: LifecycleStore };
export const systemClock: Clock = { now: () => new Date() };

export const lifecycleStore = (config: StoreConfig): LifecycleStore =>
  dynamoDbLifecycleStore(documentClient(), config.DEVICES_TABLE);

const pacers = new Map<string, IotPacer>();

/**
 * This container's pacer over the deployment's IoT budget (schedules in the lifecycle table), for
 * first connections or for background work (pre-registration, recalls, operator actions). One per
 * kind, so the calls of a container share their conditional writes.
 */
export const iotPacer = (config: StoreConfig & Partial<BudgetConfig>, priority: Priority): IotPacer => {
  const share = config.IOT_QUOTA_SHARE ?? IOT_BUDGET_DEFAULTS.IOT_QUOTA_SHARE;
  const backgroundShare = config.IOT_BACKGROUND_SHARE ?? IOT_BUDGET_DEFAULTS.IOT_BACKGROUND_SHARE;
  const key = [config.DEVICES_TABLE, priority, share, backgroundShare].join(" ");
  let pacer = pacers.get(key);
  if (!pacer) {
    pacer = iotBudget({
      store: dynamoDbScheduleStore(dynamoDbClient(), config.DEVICES_TABLE),
      share,
      backgroundShare,
      priority,
    });
    pacers.set(key, pacer);
  }
  return pacer;
};
