import {
  GetRegistrationCodeCommand,
  type IoTClient,
  RegisterCACertificateCommand,
} from "@aws-sdk/client-iot";
import { type Issuer, issueDeviceCertificate } from "./dev-pki.js";

/**
 * Registers a CA the way an operator does for JITR (DEFAULT mode): a verification certificate with
 * the account's registration code as its common name, signed by the CA key here (the key never
 * leaves this process), then the CA ACTIVE with auto-registration on.
 */
export const registerCaForJitr = async (iot: IoTClient, ca: Issuer): Promise<string> => {
  const { registrationCode } = await iot.send(new GetRegistrationCodeCommand({}));
  if (!registrationCode) throw new Error("GetRegistrationCode returned no code");
  const verification = await issueDeviceCertificate(ca, { subject: `CN=${registrationCode}` });
  const out = await iot.send(
    new RegisterCACertificateCommand({
      caCertificate: ca.pem,
      verificationCertificate: verification.pem,
      setAsActive: true,
      allowAutoRegistration: true,
    }),
  );
  if (!out.certificateId) throw new Error("RegisterCACertificate returned no id");
  return out.certificateId;
};
