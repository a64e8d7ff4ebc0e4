import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import mqtt, { type MqttClient } from "mqtt";
import { exportPrivateKeyPem, generateKeys, type KeySpec } from "./dev-pki.js";
import type { Endpoint } from "./device.js";

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

const ANSWER_TIMEOUT_MS = 15_000;

/** One claim session: certificate, then RegisterThing, then the session ends. */
export const provisionByClaim = async (
  claim: ClaimCredentials,
  endpoint: Endpoint,
  request: ProvisionRequest,
): Promise<ProvisionOutcome> => {
  const client = mqtt.connect({
    host: endpoint.address,
    port: endpoint.port,
    protocol: "mqtts",
    servername: endpoint.serverName,
    ca: endpoint.trustedCaPem,
    cert: claim.certificatePem,
    key: claim.privateKeyPem,
    clientId: request.clientId ?? `claim.${webcrypto.randomUUID()}`,
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
  // IoT Core refuses a claim it does not accept by closing the socket, with no CONNACK.
  const refused = await new Promise<string | undefined>((resolve) => {
    client.once("connect", () => resolve(undefined));
    client.once("error", (error) => resolve(error.message));
    client.once("close", () => resolve("closed without a CONNACK"));
  });
  if (refused !== undefined) {
    client.end(true);
    return { kind: "not-connected", reason: refused };
  }
  try {
    const started = Date.now();
    const created = request.ownKey
      ? await ask(client, "$aws/certificates/create-from-csr/json", {
          certificateSigningRequest: request.ownKey.csrPem,
        })
      : await ask(client, "$aws/certificates/create/json", {});
    if (created.rejected) return { kind: "rejected", step: "certificate", ...created.body };
    const certificate = created.body as {
      certificateId: string;
      certificatePem: string;
      privateKey?: string;
      certificateOwnershipToken: string;
    };
    const provisioned = await ask(
      client,
      `$aws/provisioning-templates/${request.templateName}/provision/json`,
      {
        certificateOwnershipToken: certificate.certificateOwnershipToken,
        parameters: request.parameters,
      },
    );
    if (provisioned.rejected)
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
    await client.endAsync().catch(() => undefined);
  }
};

/** Publishes a request after subscribing to its two answers; resolves with whichever comes. */
const ask = async (
  client: MqttClient,
  topic: string,
  payload: object,
): Promise<{ rejected: boolean; body: Record<string, unknown> }> => {
  const accepted = `${topic}/accepted`;
  const rejected = `${topic}/rejected`;
  await client.subscribeAsync([accepted, rejected], { qos: 1 });
  const answer = new Promise<{ rejected: boolean; body: Record<string, unknown> }>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.removeListener("message", onMessage);
      reject(new Error(`no answer on ${topic} within ${ANSWER_TIMEOUT_MS} ms`));
    }, ANSWER_TIMEOUT_MS);
    const onMessage = (on: string, message: Buffer) => {
      if (on !== accepted && on !== rejected) return;
      clearTimeout(timer);
      client.removeListener("message", onMessage);
      resolve({ rejected: on === rejected, body: JSON.parse(message.toString("utf8")) });
    };
    client.on("message", onMessage);
  });
  await client.publishAsync(topic, JSON.stringify(payload), { qos: 1 });
  return answer;
};

/** A key of the device's own and a CSR for it, as a secure element would make them. */
export const deviceCsr = async (
  subject: string,
  key: KeySpec = { type: "EC", curve: "P-256" },
): Promise<{ csrPem: string; privateKeyPem: string; publicKeySha256: string }> => {
  const keys = await generateKeys(key);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: subject,
    keys,
    signingAlgorithm:
      keys.privateKey.algorithm.name === "ECDSA"
        ? { name: "ECDSA", hash: "SHA-256" }
        : { name: keys.privateKey.algorithm.name, hash: "SHA-256" },
  });
  const spki = Buffer.from(await webcrypto.subtle.exportKey("spki", keys.publicKey));
  return {
    csrPem: csr.toString("pem"),
    privateKeyPem: await exportPrivateKeyPem(keys.privateKey),
    publicKeySha256: Buffer.from(await webcrypto.subtle.digest("SHA-256", spki)).toString("hex"),
  };
};
