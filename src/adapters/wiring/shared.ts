import type { Clock, LifecycleStore } from "#app/ports.js";
import { documentClient } from "../aws-clients.js";
import type { StoreConfig } from "../config.js";
import { dynamoDbLifecycleStore } from "../dynamodb-lifecycle-store.js";

// The wiring hands every use case the whole table, whatever role its port names, so deps built
// for one use case can be spread into another's.
export type WithTable<T> = Omit<T, "store"> & { readonly store: LifecycleStore };
export const systemClock: Clock = { now: () => new Date() };

export const lifecycleStore = (config: StoreConfig): LifecycleStore =>
  dynamoDbLifecycleStore(documentClient(), config.DEVICES_TABLE);

// Operator actions are rare next to first connections: a small share of the account quotas.
export const OPERATIONS_QUOTA_SHARE = 0.2;
