import { RegisterCertificateCommand, UpdateCertificateCommand } from "@aws-sdk/client-iot";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { issueDeviceCertificate } from "#local/dev-pki.js";
import { createMotoWorld, type MotoWorld } from "#test/support/moto-world.js";

/** Where moto is more lenient than IoT Core, the tests hold it to IoT Core's rule. */
let world: MotoWorld;

beforeAll(async () => {
  world = await createMotoWorld(inject("motoEndpoint"));
});

describe("moto, held to IoT Core's rules", () => {
  it("refuses to make a REVOKED certificate ACTIVE through the functions' client", async () => {
    const device = await issueDeviceCertificate(world.ca, { deviceId: world.id("revived") });
    const { certificateId } = await world.iot.send(
      new RegisterCertificateCommand({
        certificatePem: device.pem,
        caCertificatePem: world.ca.pem,
        status: "REVOKED",
      }),
    );
    const { iotClient } = await import("#adapters/aws-clients.js");

    await expect(
      iotClient().send(new UpdateCertificateCommand({ certificateId, newStatus: "ACTIVE" })),
    ).rejects.toMatchObject({ name: "CertificateStateException" });
  });
});
