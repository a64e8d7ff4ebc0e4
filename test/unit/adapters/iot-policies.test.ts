import {
  AttachPolicyCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  DeletePolicyCommand,
  DeletePolicyVersionCommand,
  DetachPolicyCommand,
  GetPolicyCommand,
  IoTClient,
  ListPolicyVersionsCommand,
  ResourceAlreadyExistsException,
  ResourceNotFoundException,
} from "@aws-sdk/client-iot";
import { mockClient } from "aws-sdk-client-mock";
import "aws-sdk-client-mock-vitest/extend";
import { beforeEach, describe, expect, it } from "vitest";
import { iotPolicies } from "#adapters/iot-policies.js";

const iot = mockClient(IoTClient);
const policies = iotPolicies(new IoTClient({ region: "eu-west-1" }));
const meta = { $metadata: {} };
const notFound = () => new ResourceNotFoundException({ message: "none", ...meta });
const versions = (count: number) =>
  Array.from({ length: count }, (_, index) => ({
    versionId: String(index + 1),
    isDefaultVersion: index === count - 1,
    // Listed newest first, as IoT Core does: the order must not decide which version goes.
    createDate: new Date(Date.UTC(2026, 0, index + 1)),
  })).reverse();

beforeEach(() => iot.reset());

describe("iotPolicies", () => {
  it("answers no document for a policy that does not exist", async () => {
    iot.on(GetPolicyCommand).rejects(notFound());
    await expect(policies.getPolicyDocument("p")).resolves.toBeUndefined();
  });

  it("treats a policy that already exists as created", async () => {
    iot
      .on(CreatePolicyCommand)
      .rejects(
        new ResourceAlreadyExistsException({ message: "exists", ...meta, resourceId: "p", resourceArn: "a" }),
      );
    await expect(policies.createPolicy("p", "{}")).resolves.toBeUndefined();
  });

  it("makes a new default version, deleting the oldest other version when IoT Core's five are used", async () => {
    iot.on(ListPolicyVersionsCommand).resolves({ policyVersions: versions(5) });
    await policies.replacePolicyDocument("p", '{"v":6}');
    expect(iot).toHaveReceivedCommandWith(DeletePolicyVersionCommand, {
      policyName: "p",
      policyVersionId: "1",
    });
    expect(iot).toHaveReceivedCommandWith(CreatePolicyVersionCommand, {
      policyName: "p",
      policyDocument: '{"v":6}',
      setAsDefault: true,
    });
  });

  it("deletes no version while there is room", async () => {
    iot.on(ListPolicyVersionsCommand).resolves({ policyVersions: versions(4) });
    await policies.replacePolicyDocument("p", "{}");
    expect(iot).not.toHaveReceivedCommand(DeletePolicyVersionCommand);
  });

  it("attaches to and detaches from a target, a missing attachment counting as detached", async () => {
    iot.on(AttachPolicyCommand).resolves({});
    iot.on(DetachPolicyCommand).rejects(notFound());
    await policies.attachPolicy("p", "arn:aws:iot:eu-west-1:123456789012:thinggroup/g");
    await expect(
      policies.detachPolicy("p", "arn:aws:iot:eu-west-1:123456789012:thinggroup/g"),
    ).resolves.toBeUndefined();
    expect(iot).toHaveReceivedCommandWith(AttachPolicyCommand, {
      policyName: "p",
      target: "arn:aws:iot:eu-west-1:123456789012:thinggroup/g",
    });
  });

  it("deletes the other versions before the policy, and a policy that is gone counts as deleted", async () => {
    iot.on(ListPolicyVersionsCommand).resolves({ policyVersions: versions(3) });
    await policies.deletePolicy("p");
    expect(iot).toHaveReceivedCommandTimes(DeletePolicyVersionCommand, 2);
    expect(iot).toHaveReceivedCommandWith(DeletePolicyCommand, { policyName: "p" });

    iot.reset();
    iot.on(ListPolicyVersionsCommand).rejects(notFound());
    await expect(policies.deletePolicy("gone")).resolves.toBeUndefined();
  });
});
