import { renderDevicePolicy } from "#domain/device-policy.js";
import { DependencyRejectedError, ValidationError } from "#domain/errors.js";
import type { PolicyRegistry } from "./ports.js";

/**
 * The one device policy, kept by the deployment: rendered from the template, linted, and attached
 * to the devices' thing group, never to a certificate. Provisioning then only adds a device's Thing
 * to the group, so no function that runs at a device's request can attach a policy to anything.
 */
export interface DevicePolicySettings {
  readonly policyName: string;
  readonly thingGroupArn: string;
  readonly template: string;
  readonly topicPrefix: string;
}

export type DevicePolicyChange = "created" | "updated" | "unchanged";

/** Creates the policy or makes its default version the rendered template, then attaches it. */
export const ensureDevicePolicy = async (
  registry: PolicyRegistry,
  settings: DevicePolicySettings,
): Promise<DevicePolicyChange> => {
  const { region, accountId } = parseIotArn(settings.thingGroupArn);
  const document = renderDevicePolicy(settings.template, {
    region,
    accountId,
    topicPrefix: settings.topicPrefix,
  });
  const current = await registry.getPolicyDocument(settings.policyName);
  let change: DevicePolicyChange = "unchanged";
  if (current === undefined) {
    await registry.createPolicy(settings.policyName, document);
    change = "created";
  } else if (normalised(current) !== document) {
    await registry.replacePolicyDocument(settings.policyName, document);
    change = "updated";
  }
  await registry.attachPolicy(settings.policyName, settings.thingGroupArn);
  return change;
};

/**
 * Detaches the policy from the group and deletes it. A policy still attached elsewhere (a
 * certificate an operator attached it to by hand) is kept: deleting it is refused, and a stack
 * must still be removable.
 */
export const removeDevicePolicy = async (
  registry: PolicyRegistry,
  settings: Pick<DevicePolicySettings, "policyName" | "thingGroupArn">,
): Promise<"deleted" | "kept"> => {
  await registry.detachPolicy(settings.policyName, settings.thingGroupArn);
  try {
    await registry.deletePolicy(settings.policyName);
    return "deleted";
  } catch (error) {
    if (error instanceof DependencyRejectedError) return "kept";
    throw error;
  }
};

const normalised = (document: string): string => {
  try {
    return JSON.stringify(JSON.parse(document));
  } catch {
    return document;
  }
};

const IOT_ARN = /^arn:aws[a-z-]*:iot:([a-z0-9-]+):(\d{12}):/;

/** The policy is rendered for the account and region its thing group lives in. */
export const parseIotArn = (arn: string): { region: string; accountId: string } => {
  const match = IOT_ARN.exec(arn);
  if (!match?.[1] || !match[2]) throw new ValidationError(`not an IoT ARN: ${arn}`);
  return { region: match[1], accountId: match[2] };
};
