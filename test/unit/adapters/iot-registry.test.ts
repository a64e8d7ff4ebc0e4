import {
  AddThingToThingGroupCommand,
  AttachThingPrincipalCommand,
  CertificateStateException,
  CreateThingCommand,
  DescribeCertificateCommand,
  IoTClient,
  ResourceAlreadyExistsException,
  ThrottlingException,
  UpdateCertificateCommand,
} from "@aws-sdk/client-iot";
import { mockClient } from "aws-sdk-client-mock";
import "aws-sdk-client-mock-vitest/extend";
import { beforeEach, describe, expect, it } from "vitest";
import { iotRegistry } from "#adapters/iot-registry.js";
import { DependencyRejectedError, NotFoundError, ThrottledError } from "#domain/errors.js";
import type { CertificateId, DeviceId } from "#domain/ids.js";

const iot = mockClient(IoTClient);
const registry = iotRegistry(new IoTClient({ region: "eu-west-1" }));
const CERT = "c".repeat(64) as CertificateId;
const meta = { $metadata: {} };

beforeEach(() => iot.reset());

describe("iotRegistry", () => {
  it("treats a Thing that already exists as created (CreateThing with other attributes on redelivery)", async () => {
    iot
      .on(CreateThingCommand)
      .rejects(
        new ResourceAlreadyExistsException({ message: "exists", ...meta, resourceId: "t", resourceArn: "a" }),
      );
    await expect(registry.createThing("sensor-1" as DeviceId, { batch: "b" })).resolves.toBeUndefined();
    expect(iot).toHaveReceivedCommandWith(CreateThingCommand, {
      thingName: "sensor-1",
      attributePayload: { attributes: { batch: "b" } },
    });
  });

  it("puts a Thing in a group by their names", async () => {
    iot.on(AddThingToThingGroupCommand).resolves({});
    await registry.addThingToGroup("fleetgate-devices", "sensor-1" as DeviceId);
    expect(iot).toHaveReceivedCommandWith(AddThingToThingGroupCommand, {
      thingGroupName: "fleetgate-devices",
      thingName: "sensor-1",
    });
  });

  it("attaches the certificate exclusively to its Thing", async () => {
    iot.on(AttachThingPrincipalCommand).resolves({});
    await registry.attachThingPrincipal("sensor-1" as DeviceId, "arn:cert");
    expect(iot).toHaveReceivedCommandWith(AttachThingPrincipalCommand, {
      thingName: "sensor-1",
      principal: "arn:cert",
      thingPrincipalType: "EXCLUSIVE_THING",
    });
  });

  it("translates AWS errors into domain errors that say whether to retry", async () => {
    iot
      .on(DescribeCertificateCommand)
      .rejects(new ThrottlingException({ message: "Rate exceeded", ...meta }));
    await expect(registry.describeCertificate(CERT)).rejects.toBeInstanceOf(ThrottledError);
    iot.on(UpdateCertificateCommand).rejects(new CertificateStateException({ message: "revoked", ...meta }));
    const error = await registry.updateCertificateStatus(CERT, "ACTIVE").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyRejectedError);
    expect((error as Error).cause).toBeInstanceOf(CertificateStateException);
  });

  it("reports a missing certificate as not found", async () => {
    iot
      .on(DescribeCertificateCommand)
      .rejects(Object.assign(new Error("nope"), { name: "ResourceNotFoundException" }));
    await expect(registry.describeCertificate(CERT)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("reads the certificate's CA from DescribeCertificate when IoT Core reports it", async () => {
    iot.on(DescribeCertificateCommand).resolves({
      certificateDescription: {
        certificateArn: "arn",
        certificatePem: "pem",
        status: "PENDING_ACTIVATION",
        caCertificateId: "a".repeat(64),
      },
    });
    expect(await registry.describeCertificate(CERT)).toMatchObject({
      status: "PENDING_ACTIVATION",
      caCertificateId: "a".repeat(64),
    });
  });
});
