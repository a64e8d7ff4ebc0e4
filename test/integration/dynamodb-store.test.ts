import { inject } from "vitest";
import { lifecycleStoreContract } from "#test/contract/lifecycle-store.js";
import { createMotoWorld } from "#test/support/moto-world.js";

// The deployed store, on DynamoDB (moto), keeps the same promises as the in-memory one.
lifecycleStoreContract("DynamoDB", async () => {
  const world = await createMotoWorld(inject("motoEndpoint"));
  const { lifecycleStore } = await import("#adapters/wiring.js");
  return lifecycleStore({ DEVICES_TABLE: world.tableName });
});
