import {
  AttachPolicyCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  DeletePolicyCommand,
  DeletePolicyVersionCommand,
  DetachPolicyCommand,
  GetPolicyCommand,
  type IoTClient,
  ListPolicyVersionsCommand,
} from "@aws-sdk/client-iot";
import type { PolicyRegistry } from "#app/ports.js";
import { NotFoundError } from "#domain/errors.js";
import { call } from "./aws-errors.js";
import { ignoreAlreadyExists, ignoreNotFound } from "./iot-registry.js";

// IoT Core keeps at most five versions of a policy.
const MAX_VERSIONS = 5;

/** IoT Core's policies over client-iot, for the deployment's device-policy resource. */
export const iotPolicies = (iot: IoTClient): PolicyRegistry => {
  const nonDefaultVersions = async (policyName: string) => {
    const out = await call("ListPolicyVersions", () =>
      iot.send(new ListPolicyVersionsCommand({ policyName })),
    );
    const versions = out.policyVersions ?? [];
    return {
      count: versions.length,
      // Oldest first: the one to remove when room is needed.
      others: versions
        .filter((version) => !version.isDefaultVersion && version.versionId)
        .sort((a, b) => (a.createDate?.getTime() ?? 0) - (b.createDate?.getTime() ?? 0))
        .map((version) => version.versionId as string),
    };
  };
  return {
    async getPolicyDocument(policyName) {
      try {
        const out = await call("GetPolicy", () => iot.send(new GetPolicyCommand({ policyName })));
        return out.policyDocument;
      } catch (error) {
        if (error instanceof NotFoundError) return undefined;
        throw error;
      }
    },

    async createPolicy(policyName, policyDocument) {
      await ignoreAlreadyExists(
        call("CreatePolicy", () => iot.send(new CreatePolicyCommand({ policyName, policyDocument }))),
      );
    },

    async replacePolicyDocument(policyName, policyDocument) {
      const versions = await nonDefaultVersions(policyName);
      const oldest = versions.others[0];
      if (versions.count >= MAX_VERSIONS && oldest)
        await call("DeletePolicyVersion", () =>
          iot.send(new DeletePolicyVersionCommand({ policyName, policyVersionId: oldest })),
        );
      await call("CreatePolicyVersion", () =>
        iot.send(new CreatePolicyVersionCommand({ policyName, policyDocument, setAsDefault: true })),
      );
    },

    async attachPolicy(policyName, target) {
      await call("AttachPolicy", () => iot.send(new AttachPolicyCommand({ policyName, target })));
    },

    async detachPolicy(policyName, target) {
      await ignoreNotFound(
        call("DetachPolicy", () => iot.send(new DetachPolicyCommand({ policyName, target }))),
      );
    },

    async deletePolicy(policyName) {
      try {
        for (const policyVersionId of (await nonDefaultVersions(policyName)).others)
          await call("DeletePolicyVersion", () =>
            iot.send(new DeletePolicyVersionCommand({ policyName, policyVersionId })),
          );
      } catch (error) {
        if (error instanceof NotFoundError) return;
        throw error;
      }
      await ignoreNotFound(call("DeletePolicy", () => iot.send(new DeletePolicyCommand({ policyName }))));
    },
  };
};
