import {
  CreateCertificateFromCsrCommand,
  CreateKeysAndCertificateCommand,
  type IoTClient,
} from "@aws-sdk/client-iot";
import type { ClaimIssuer, IssuedCertificate } from "#app/ports.js";
import { DependencyUnavailableError } from "#domain/errors.js";
import { type CertificateId, isCertificateId } from "#domain/ids.js";
import { call } from "./aws-errors.js";

/** Claim certificates made by IoT Core, INACTIVE: the claim is activated once it is bound. */
export const iotClaimIssuer = (iot: IoTClient): ClaimIssuer => ({
  async createCertificate(csrPem) {
    const out = csrPem
      ? await call("CreateCertificateFromCsr", () =>
          iot.send(
            new CreateCertificateFromCsrCommand({ certificateSigningRequest: csrPem, setAsActive: false }),
          ),
        )
      : await call("CreateKeysAndCertificate", () =>
          iot.send(new CreateKeysAndCertificateCommand({ setAsActive: false })),
        );
    const { certificateId, certificateArn, certificatePem } = out;
    if (!certificateId || !isCertificateId(certificateId) || !certificateArn || !certificatePem)
      throw new DependencyUnavailableError("IoT Core's answer names no certificate");
    // Only CreateKeysAndCertificate answers a key pair.
    const privateKeyPem = (out as { keyPair?: { PrivateKey?: string } }).keyPair?.PrivateKey;
    const issued: IssuedCertificate = {
      certificateId: certificateId as CertificateId,
      certificateArn,
      certificatePem,
      ...(privateKeyPem ? { privateKeyPem } : {}),
    };
    return issued;
  },
});
