import { scheduleStoreContract } from "#test/contract/schedule-store.js";
import { InMemoryScheduleStore } from "#test/support/in-memory-schedules.js";

// The schedules the budget's tests and the herd simulation run on keep the deployed store's promises.
scheduleStoreContract("in memory", async () => new InMemoryScheduleStore());
