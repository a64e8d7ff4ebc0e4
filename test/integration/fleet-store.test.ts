import { inject } from "vitest";
import { fleetStoreContract } from "#test/contract/fleet-store.js";
import { createMotoWorld } from "#test/support/moto-world.js";

// Fleet provisioning's items on DynamoDB (moto) keep the same promises as the in-memory ones.
fleetStoreContract("DynamoDB", async () => {
  const world = await createMotoWorld(inject("motoEndpoint"));
  const [{ lifecycleStore }, { claimRegistry, fleetLedger }, { documentClient }] = await Promise.all([
    import("#adapters/wiring.js"),
    import("#adapters/dynamodb/fleet.js"),
    import("#adapters/aws-clients.js"),
  ]);
  const db = documentClient();
  return {
    table: lifecycleStore({ DEVICES_TABLE: world.tableName }),
    fleet: { ...fleetLedger(db, world.tableName), ...claimRegistry(db, world.tableName) },
  };
});
