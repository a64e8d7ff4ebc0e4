import {
  DescribeCACertificateCommand,
  DescribeCertificateCommand,
  IoTClient,
  ListCACertificatesCommand,
  ListPrincipalThingsCommand,
  ListThingPrincipalsCommand,
  ListThingsInThingGroupCommand,
  ResourceNotFoundException,
  ThrottlingException,
} from "@aws-sdk/client-iot";
import { mockClient } from "aws-sdk-client-mock";
import "aws-sdk-client-mock-vitest/extend";
import { beforeEach, describe, expect, it } from "vitest";
import type { IotPacer } from "#adapters/iot-budget.js";
import { iotInventory } from "#adapters/iot-inventory.js";
import { ThrottledError } from "#domain/errors.js";
import type { CertificateId, DeviceId } from "#domain/ids.js";
import { createCa } from "#local/dev-pki.js";

const iot = mockClient(IoTClient);
const inventory = iotInventory(new IoTClient({ region: "eu-west-1" }));
const CERT = "c".repeat(64);
const OTHER = "d".repeat(64);
const meta = { $metadata: {} };
const notFound = () => new ResourceNotFoundException({ message: "no such thing", ...meta });

beforeEach(() => iot.reset());

describe("iotInventory", () => {
  it("pages the Things of a group with IoT Core's token as the cursor", async () => {
    iot.on(ListThingsInThingGroupCommand).resolves({ things: ["a", "b"], nextToken: "t2" });

    const page = await inventory.pageThingsInGroup("devices", { limit: 2, cursor: "t1" });

    expect(page).toEqual({ items: ["a", "b"], cursor: "t2" });
    expect(iot).toHaveReceivedCommandWith(ListThingsInThingGroupCommand, {
      thingGroupName: "devices",
      maxResults: 2,
      nextToken: "t1",
    });
  });

  it("reads a Thing's certificates from its principals, every page, leaving out principals that are not certificates", async () => {
    iot
      .on(ListThingPrincipalsCommand)
      .resolvesOnce({
        principals: [`arn:aws:iot:eu-west-1:123456789012:cert/${CERT}`, "eu-west-1:cognito-identity-id"],
        nextToken: "more",
      })
      .resolvesOnce({ principals: [`arn:aws-cn:iot:cn-north-1:123456789012:cert/${OTHER}`] });

    expect(await inventory.thingCertificates("sensor-1" as DeviceId)).toEqual([CERT, OTHER]);
  });

  it("reads the Things a certificate is attached to, every page; none for a certificate IoT Core does not have", async () => {
    const arn = `arn:aws:iot:eu-west-1:123456789012:cert/${CERT}`;
    iot
      .on(ListPrincipalThingsCommand, { principal: arn })
      .resolvesOnce({ things: ["sensor-1"], nextToken: "more" })
      .resolvesOnce({ things: ["sensor-2"] });
    iot.on(ListPrincipalThingsCommand, { principal: "gone" }).rejects(notFound());

    expect(await inventory.certificateThings(arn)).toEqual(["sensor-1", "sensor-2"]);
    expect(await inventory.certificateThings("gone")).toEqual([]);
    expect(iot).toHaveReceivedCommandWith(ListPrincipalThingsCommand, { principal: arn, nextToken: "more" });
  });

  it("answers undefined for a Thing or a certificate IoT Core does not have, and throws on anything else", async () => {
    iot.on(ListThingPrincipalsCommand).rejects(notFound());
    iot.on(DescribeCertificateCommand).rejects(notFound());
    expect(await inventory.thingCertificates("gone" as DeviceId)).toBeUndefined();
    expect(await inventory.certificateStatus(CERT as CertificateId)).toBeUndefined();

    iot.on(DescribeCertificateCommand).rejects(new ThrottlingException({ message: "slow down", ...meta }));
    await expect(inventory.certificateStatus(CERT as CertificateId)).rejects.toThrow(ThrottledError);
  });

  it("reads a certificate's status", async () => {
    iot.on(DescribeCertificateCommand).resolves({ certificateDescription: { status: "REVOKED" } });
    expect(await inventory.certificateStatus(CERT as CertificateId)).toBe("REVOKED");
  });

  it("lists every CA with when it expires, read from the certificate itself", async () => {
    const notAfter = new Date("2027-03-01T12:00:00Z");
    const ca = await createCa({ name: "Inventory Test CA", notAfter });
    iot
      .on(ListCACertificatesCommand)
      .resolvesOnce({ certificates: [{ certificateId: CERT }], nextMarker: "m" })
      .resolvesOnce({ certificates: [{ certificateId: OTHER }] });
    iot
      .on(DescribeCACertificateCommand, { certificateId: CERT })
      .resolves({ certificateDescription: { status: "ACTIVE", certificatePem: ca.pem } });
    // Deleted between the listing and its description: not a CA of the account any more.
    iot.on(DescribeCACertificateCommand, { certificateId: OTHER }).rejects(notFound());

    expect(await inventory.caCertificates()).toEqual([
      { caCertificateId: CERT, status: "ACTIVE", notAfter: "2027-03-01T12:00:00.000Z" },
    ]);
    expect(iot).toHaveReceivedCommandWith(ListCACertificatesCommand, { marker: "m" });
  });

  it("takes each call's slot from the deployment's IoT budget, by operation, and reports what IoT Core served", async () => {
    const taken: string[] = [];
    let served = 0;
    const pacer: IotPacer = {
      acquire: async (operation) => {
        taken.push(operation);
        return {
          served: () => {
            served += 1;
          },
          throttled: async () => false,
        };
      },
      within: (work) => work(),
    };
    const paced = iotInventory(new IoTClient({ region: "eu-west-1" }), pacer);
    iot.on(ListThingPrincipalsCommand).resolves({ principals: [] });
    iot.on(DescribeCertificateCommand).resolves({ certificateDescription: { status: "ACTIVE" } });

    await paced.thingCertificates("sensor-1" as DeviceId);
    await paced.certificateStatus(CERT as CertificateId);

    expect(taken).toEqual(["ListThingPrincipals", "DescribeCertificate"]);
    expect(served).toBe(2);
  });
});
