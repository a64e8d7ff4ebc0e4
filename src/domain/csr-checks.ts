import { inspectCsr, provesPossession } from "./certificate.js";
import { checkKey, readDeviceId } from "./certificate-checks.js";
import type { SubjectField } from "./certificate-names.js";
import type { DeviceId } from "./ids.js";
import { type RequestVerdict, reject } from "./rotation.js";

/**
 * The crypto policy for a rotation's certificate signing request: the key a device certificate
 * must have (RSA of 2048 bits or more, EC P-256, P-384 or P-521, signed with SHA-256 or stronger),
 * a request signed by that very key, and a subject naming the device that asks, in the field its
 * certificates name it. The first failure is returned, in a fixed order.
 */
export const judgeCertificateRequest = async (
  pem: string,
  deviceId: DeviceId,
  field: SubjectField,
): Promise<RequestVerdict> => {
  const inspection = inspectCsr(pem);
  if (!inspection.ok) return { ok: false, rejection: reject("CSR_MALFORMED", inspection.error) };
  const { csr } = inspection;
  const weak = checkKey(csr.facts);
  if (weak) return { ok: false, rejection: weak };
  if (!(await provesPossession(csr))) return { ok: false, rejection: reject("CSR_SIGNATURE_INVALID") };
  const named = readDeviceId(csr, field);
  if (!named.ok) return { ok: false, rejection: named.refusal };
  if (named.deviceId !== deviceId)
    return {
      ok: false,
      rejection: reject("DEVICE_ID_MISMATCH", `${field}=${named.deviceId}, not ${deviceId}`),
    };
  return {
    ok: true,
    request: { publicKeySha256: csr.facts.publicKeySha256, requestSha256: csr.facts.requestSha256 },
  };
};
