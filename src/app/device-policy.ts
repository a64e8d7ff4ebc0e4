import { renderDevicePolicy } from "#domain/device-policy.js";
import { NotFoundError, ValidationError } from "#domain/errors.js";
import type { DeviceRegistry } from "./ports.js";

/** Attaches the shared device policy to a certificate, creating the policy the first time. */
export type EnsurePolicy = (certificateArn: string) => Promise<void>;

export interface DevicePolicySettings {
  readonly policyName: string;
  readonly template: string;
  readonly topicPrefix: string;
}

/**
 * One policy for every device, scoped by thing policy variables, never one per certificate.
 * Creating it on the first NotFound costs nothing in the steady state (no GetPolicy per device).
 */
export const devicePolicyAttacher =
  (registry: DeviceRegistry, settings: DevicePolicySettings): EnsurePolicy =>
  async (certificateArn) => {
    try {
      await registry.attachPolicy(settings.policyName, certificateArn);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      const { region, accountId } = parseIotArn(certificateArn);
      const document = renderDevicePolicy(settings.template, {
        region,
        accountId,
        topicPrefix: settings.topicPrefix,
      });
      await registry.createPolicy(settings.policyName, document);
      await registry.attachPolicy(settings.policyName, certificateArn);
    }
  };

const IOT_ARN = /^arn:aws[a-z-]*:iot:([a-z0-9-]+):(\d{12}):/;

/** The policy is rendered for the account and region the certificate lives in. */
export const parseIotArn = (arn: string): { region: string; accountId: string } => {
  const match = IOT_ARN.exec(arn);
  if (!match?.[1] || !match[2]) throw new ValidationError(`not an IoT ARN: ${arn}`);
  return { region: match[1], accountId: match[2] };
};
