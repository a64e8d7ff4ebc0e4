import { webcrypto } from "node:crypto";
import { createCertificateRequest, exportPrivateKeyPem, type KeySpec } from "./dev-pki.js";
import { connectOnce, type Endpoint } from "./device.js";

/**
 * A device that provisions itself by claim, as firmware does with IoT Core's fleet provisioning
 * MQTT API: it connects with the claim certificate its factory gave it, has IoT Core make its own
 * certificate (CreateKeysAndCertificate, or CreateCertificateFromCsr with a key that never leaves
 * it), then asks the template to provision it (RegisterThing), subscribing to each answer first.
 */
export interface ClaimCredentials {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

export interface ProvisionRequest {
  readonly templateName: string;
  /** The template parameters the device sends: its identity, and whatever else firmware adds. */
  readonly parameters: Readonly<Record<string, string>>;
  /** A key of the device's own: IoT Core signs its CSR instead of making a key for it. */
  readonly ownKey?: { readonly csrPem: string; readonly privateKeyPem: string };
  /** The claim session's client id; the claim policy allows `claim.<anything>`. */
  readonly clientId?: string;
}

export type ProvisionOutcome =
  | {
      readonly kind: "provisioned";
      readonly certificateId: string;
      readonly certificatePem: string;
      readonly privateKeyPem: string;
      readonly thingName?: string;
      /** From the first PUBLISH to the RegisterThing answer. */
      readonly elapsedMs: number;
    }
  | {
      readonly kind: "rejected";
      readonly step: "certificate" | "provision";
      readonly certificateId?: string;
      readonly statusCode?: number;
      readonly errorCode?: string;
      readonly errorMessage?: string;
    }
  | { readonly kind: "not-connected"; readonly reason: string };

/** One claim session: certificate, then RegisterThing, then the session ends. */
export const provisionByClaim = async (
  claim: ClaimCredentials,
  endpoint: Endpoint,
  request: ProvisionRequest,
): Promise<ProvisionOutcome> => {
  const connected = await connectOnce(
    {
      clientId: request.clientId ?? `claim.${webcrypto.randomUUID()}`,
      certificateChainPem: claim.certificatePem,
      privateKeyPem: claim.privateKeyPem,
    },
    endpoint,
  );
  // IoT Core refuses a claim it does not accept by closing the socket, with no CONNACK.
  if (connected.kind !== "accepted")
    return {
      kind: "not-connected",
      reason: connected.kind === "refused" ? connected.reason : "closed without a CONNACK",
    };
  const session = connected.session;
  try {
    const started = Date.now();
    const created = request.ownKey
      ? await session.ask("$aws/certificates/create-from-csr/json", {
          certificateSigningRequest: request.ownKey.csrPem,
        })
      : await session.ask("$aws/certificates/create/json", {});
    if (!created.accepted) return { kind: "rejected", step: "certificate", ...created.body };
    const certificate = created.body as {
      certificateId: string;
      certificatePem: string;
      privateKey?: string;
      certificateOwnershipToken: string;
    };
    const provisioned = await session.ask(
      `$aws/provisioning-templates/${request.templateName}/provision/json`,
      {
        certificateOwnershipToken: certificate.certificateOwnershipToken,
        parameters: request.parameters,
      },
    );
    if (!provisioned.accepted)
      return {
        kind: "rejected",
        step: "provision",
        certificateId: certificate.certificateId,
        ...provisioned.body,
      };
    const thingName = (provisioned.body as { thingName?: string }).thingName;
    return {
      kind: "provisioned",
      certificateId: certificate.certificateId,
      certificatePem: certificate.certificatePem,
      privateKeyPem: request.ownKey?.privateKeyPem ?? certificate.privateKey ?? "",
      ...(thingName ? { thingName } : {}),
      elapsedMs: Date.now() - started,
    };
  } finally {
    await session.end();
  }
};

/** A key of the device's own and a CSR for it, as a secure element would make them. */
export const deviceCsr = async (
  subject: string,
  key: KeySpec = { type: "EC", curve: "P-256" },
): Promise<{ csrPem: string; privateKeyPem: string; publicKeySha256: string }> => {
  const request = await createCertificateRequest({ subject, key });
  const spki = Buffer.from(await webcrypto.subtle.exportKey("spki", request.keys.publicKey));
  return {
    csrPem: request.pem,
    privateKeyPem: await exportPrivateKeyPem(request.keys.privateKey),
    publicKeySha256: Buffer.from(await webcrypto.subtle.digest("SHA-256", spki)).toString("hex"),
  };
};
