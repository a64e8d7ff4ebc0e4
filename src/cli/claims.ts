import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { IoTClient } from "@aws-sdk/client-iot";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { batchRecords } from "#adapters/dynamodb/batch-records.js";
import { claimRegistry } from "#adapters/dynamodb/fleet.js";
import { iotClaimIssuer } from "#adapters/iot-claims.js";
import { iotPolicies } from "#adapters/iot-policies.js";
import { iotRegistry } from "#adapters/iot-registry.js";
import type { ClaimDeps } from "#app/claims.js";
import { clientConfig, readStackOutputs, type StackOptions } from "./stack-outputs.js";

/** What the claim commands work with on a deployment, found from its stack's outputs. */
export interface ClaimStack {
  readonly deps: ClaimDeps;
  /** The fleet provisioning template devices provision through. */
  readonly templateName: string;
}

/**
 * The claim commands' dependencies, with the operator's own credentials: IoT Core for the claim
 * certificates and the claim policy, the lifecycle table for the bindings and the batches. Loaded
 * only by the `claim` commands (the SDK clients are large).
 */
export const claimStack = async (stack: StackOptions): Promise<ClaimStack> => {
  const outputs = await readStackOutputs(stack, [
    "DevicesTableName",
    "ClaimPolicyName",
    "FleetProvisioningTemplateName",
  ]);
  const config = clientConfig(stack);
  const iot = new IoTClient(config);
  const db = DynamoDBDocumentClient.from(new DynamoDBClient(config), {
    marshallOptions: { removeUndefinedValues: true },
  });
  return {
    deps: {
      issuer: iotClaimIssuer(iot),
      policies: iotPolicies(iot),
      registry: iotRegistry(iot),
      claims: claimRegistry(db, outputs.DevicesTableName),
      batches: batchRecords(db, outputs.DevicesTableName),
      clock: { now: () => new Date() },
      claimPolicyName: outputs.ClaimPolicyName,
    },
    templateName: outputs.FleetProvisioningTemplateName,
  };
};
