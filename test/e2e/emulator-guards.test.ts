import { IoTClient, RegisterCertificateCommand, UpdateCertificateCommand } from "@aws-sdk/client-iot";
import { describe, expect, inject, it } from "vitest";
import { createCa, issueDeviceCertificate } from "#local/dev-pki.js";
import { localClientConfig } from "#local/ministack.js";
import { registerCaForJitr } from "#local/register-ca.js";

/** Where ministack is more lenient than IoT Core, its launcher holds it to IoT Core's rule. */
describe("ministack, held to IoT Core's rules", () => {
  it("refuses to make a REVOKED certificate ACTIVE", async () => {
    const iot = new IoTClient(localClientConfig(inject("localStack").aws));
    const ca = await createCa({ name: `guard line ${Date.now()}` });
    await registerCaForJitr(iot, ca);
    const device = await issueDeviceCertificate(ca, { deviceId: "guard-revived" });
    const { certificateId } = await iot.send(
      new RegisterCertificateCommand({
        certificatePem: device.pem,
        caCertificatePem: ca.pem,
        status: "ACTIVE",
      }),
    );
    await iot.send(new UpdateCertificateCommand({ certificateId, newStatus: "REVOKED" }));

    await expect(
      iot.send(new UpdateCertificateCommand({ certificateId, newStatus: "ACTIVE" })),
    ).rejects.toMatchObject({
      name: "CertificateStateException",
    });
  });
});
