import { inject } from "vitest";
import { rotationStoreContract } from "#test/contract/rotation-store.js";
import { createMotoWorld } from "#test/support/moto-world.js";

// The deployed rotation store, on DynamoDB (moto), keeps the same promises as the in-memory one.
rotationStoreContract("DynamoDB", async () => {
  const world = await createMotoWorld(inject("motoEndpoint"));
  const { documentClient } = await import("#adapters/aws-clients.js");
  const { lifecycleStore } = await import("#adapters/wiring.js");
  const { parkedTimers, rotationCampaigns, rotationLedger } = await import("#adapters/dynamodb/rotations.js");
  const table = world.tableName;
  const db = documentClient();
  const lifecycle = lifecycleStore({ DEVICES_TABLE: table });
  return {
    ledger: rotationLedger(db, table),
    campaigns: rotationCampaigns(db, table),
    timers: parkedTimers(db, table),
    seed: async (device) => {
      await lifecycle.addDevices([device]);
    },
  };
});
