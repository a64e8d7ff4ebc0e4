import type { IoTClient } from "@aws-sdk/client-iot";
import { iotCas } from "#adapters/iot-cas.js";
import { caKeySigner } from "#adapters/verification-signer.js";
import { onboardCa } from "#app/onboard-ca.js";
import { exportPrivateKeyPem, type Issuer } from "./dev-pki.js";

/**
 * Registers a CA the way `fleetgate ca register --key` does (DEFAULT mode): a verification
 * certificate with the account's registration code as its common name, signed by the CA key here,
 * then the CA ACTIVE with auto-registration on.
 */
export const registerCaForJitr = async (iot: IoTClient, ca: Issuer): Promise<string> => {
  const sign = caKeySigner(ca.pem, await exportPrivateKeyPem(ca.keys.privateKey));
  const view = await onboardCa(
    { cas: iotCas(iot), clock: { now: () => new Date() } },
    { caPem: ca.pem, sign },
  );
  return view.caCertificateId;
};
