import { fleetStoreContract } from "#test/contract/fleet-store.js";
import { InMemoryFleetStore } from "#test/support/in-memory-fleet.js";
import { InMemoryLifecycleStore } from "#test/support/in-memory-store.js";

// The fleet store the use-case tests run on keeps the deployed store's promises (test/contract/).
fleetStoreContract("in memory", async () => {
  const table = new InMemoryLifecycleStore();
  return { table, fleet: new InMemoryFleetStore(table) };
});
