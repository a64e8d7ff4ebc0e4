import type { CloudFormationCustomResourceEvent } from "aws-lambda";
import * as z from "zod/mini";
import { iotClient } from "#adapters/aws-clients.js";
import { builtOnFirstCall } from "#adapters/built-on-first-call.js";
import { type CustomResourceResult, customResourceHandler } from "#adapters/custom-resource.js";
import { iotPolicies } from "#adapters/iot-policies.js";
import { ensureDevicePolicy, removeDevicePolicy } from "#app/device-policy.js";
import type { PolicyRegistry } from "#app/ports.js";
import { ValidationError } from "#domain/errors.js";
import { isPolicyName } from "#domain/ids.js";
import "#domain/validation.js";
import devicePolicyTemplate from "../templates/device-policy.json" with { type: "json" };

/**
 * The deployment's device policy (custom resource Custom::DevicePolicy): rendered from
 * templates/device-policy.json, linted, kept as the policy's default version, attached to the
 * devices' thing group. The only function allowed to change a policy or attach one.
 */
const properties = z.object({
  PolicyName: z.string().check(z.refine(isPolicyName, "must be a policy name")),
  ThingGroupArn: z
    .string()
    .check(z.regex(/^arn:aws[a-z-]*:iot:[a-z0-9-]+:\d{12}:thinggroup\/[a-zA-Z0-9:_-]+$/)),
  TopicPrefix: z.string(),
});

const settingsOf = (event: CloudFormationCustomResourceEvent) => {
  const parsed = properties.safeParse(event.ResourceProperties);
  if (!parsed.success)
    throw new ValidationError(
      `Custom::DevicePolicy properties: ${parsed.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ")}`,
    );
  return {
    policyName: parsed.data.PolicyName,
    thingGroupArn: parsed.data.ThingGroupArn,
    topicPrefix: parsed.data.TopicPrefix,
    template: JSON.stringify(devicePolicyTemplate),
  };
};

/** The function over the policy registry given (IoT Core's, a test's). */
export const devicePolicy = (policies: PolicyRegistry) =>
  customResourceHandler(async (event): Promise<CustomResourceResult> => {
    if (event.RequestType === "Delete") {
      // A resource whose creation failed has nothing to remove.
      if (!properties.safeParse(event.ResourceProperties).success)
        return { physicalResourceId: event.PhysicalResourceId };
      const settings = settingsOf(event);
      const outcome = await removeDevicePolicy(policies, settings);
      return { physicalResourceId: event.PhysicalResourceId, data: { Outcome: outcome } };
    }
    const settings = settingsOf(event);
    const change = await ensureDevicePolicy(policies, settings);
    return {
      physicalResourceId: settings.policyName,
      data: { PolicyName: settings.policyName, Change: change },
    };
  });

export const handler = builtOnFirstCall(() => devicePolicy(iotPolicies(iotClient())));
