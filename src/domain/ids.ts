/** Identifiers that travel through the system, branded so one cannot be passed for another. */
type Brand<T, B extends string> = T & { readonly __brand: B };

export type DeviceId = Brand<string, "DeviceId">;
export type CertificateId = Brand<string, "CertificateId">;
export type CaCertificateId = Brand<string, "CaCertificateId">;
export type BatchId = Brand<string, "BatchId">;
export type PolicyName = Brand<string, "PolicyName">;

// IoT Core: certificate ids are 64 hex characters; Thing names 1-128 of [a-zA-Z0-9:_-].
const CERTIFICATE_ID = /^[0-9a-f]{64}$/;
const THING_NAME = /^[a-zA-Z0-9:_-]{1,128}$/;
const POLICY_NAME = /^[\w+=,.@-]{1,128}$/;
// Batch ids end up in keys and URLs: keep them to a safe, bounded alphabet.
const BATCH_ID = /^[a-zA-Z0-9._:-]{1,64}$/;

export const isCertificateId = (value: string): value is CertificateId => CERTIFICATE_ID.test(value);
export const isCaCertificateId = (value: string): value is CaCertificateId => CERTIFICATE_ID.test(value);
/** A device id is used as the Thing name, so it obeys the Thing name rules (no wildcards, no slashes). */
export const isDeviceId = (value: string): value is DeviceId => THING_NAME.test(value);
export const isBatchId = (value: string): value is BatchId => BATCH_ID.test(value);
export const isPolicyName = (value: string): value is PolicyName => POLICY_NAME.test(value);

export const DEVICE_ID_RULE = "1-128 characters of a-z A-Z 0-9 : _ -";
export const BATCH_ID_RULE = "1-64 characters of a-z A-Z 0-9 . _ : -";
