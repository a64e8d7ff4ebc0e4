import { inject } from "vitest";
import { replacementAndRetirementContract } from "#test/contract/replacement-and-retirement.js";
import { createMotoWorld } from "#test/support/moto-world.js";

// Approvals and the retirement queue on DynamoDB (moto) keep the in-memory store's promises.
replacementAndRetirementContract("DynamoDB", async () => {
  const world = await createMotoWorld(inject("motoEndpoint"));
  const { lifecycleStore } = await import("#adapters/wiring.js");
  return lifecycleStore({ DEVICES_TABLE: world.tableName });
});
