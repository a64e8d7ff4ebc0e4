import { z } from "zod";
import { SUBJECT_FIELDS, type SubjectField } from "#domain/certificate.js";
import { ConfigurationError } from "#domain/errors.js";
import { parseFactoryKeys } from "#domain/manifest-signature.js";

/**
 * Configuration, read from the environment once per container and checked: a missing or bad
 * variable stops the cold start with a message naming it. Nothing else reads process.env.
 */
const seconds = (fallback: number) => z.coerce.number().int().min(0).max(86_400).default(fallback);

// Devices' Things get this type; with a type a Thing may carry 50 attributes, without one 3.
// Empty means none, so a deployment can leave the parameter blank.
const thingTypeName = z.preprocess(
  (value) => (value === "" ? undefined : value),
  z
    .string()
    .regex(/^[a-zA-Z0-9:_-]{1,128}$/, "must be a thing type name")
    .optional(),
);

const storeSchema = z.object({
  DEVICES_TABLE: z.string({ error: "is required" }).min(3, "must name the DynamoDB table"),
});

const provisioningSchema = storeSchema.extend({
  // The devices' thing group: the device policy is attached to it, so joining it is all a device needs.
  DEVICE_THING_GROUP: z
    .string({ error: "is required" })
    .regex(/^[a-zA-Z0-9:_-]{1,128}$/, "must be a thing group name"),
  DEVICE_ID_FIELD: z
    .enum(SUBJECT_FIELDS as [SubjectField, ...SubjectField[]], {
      error: `must be one of ${SUBJECT_FIELDS.join(", ")}`,
    })
    .default("CN"),
  TOPIC_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/, "must be topic levels without wildcards")
    .default("devices"),
  CLOCK_SKEW_SECONDS: seconds(300),
  CA_CACHE_SECONDS: seconds(60),
  THING_TYPE_NAME: thingTypeName,
  // How long a certificate may wait for its manifest (or its CA to be reactivated) before it is refused.
  ALLOWLIST_WAIT_DAYS: z.coerce.number().positive().max(365).default(30),
  // The share of IoT Core's account quotas one container may use: 1 / the queue's maximum concurrency.
  IOT_QUOTA_SHARE: z.coerce.number().positive().max(100).default(0.5),
});

const PEM_PUBLIC_KEY = /-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g;

const manifestSchema = storeSchema.extend({
  // Trusted factory keys (PEM, one after the other). When any is set, every manifest must be signed.
  FACTORY_PUBLIC_KEYS: z
    .string()
    .optional()
    .transform((value, context) => {
      const pems = value?.match(PEM_PUBLIC_KEY) ?? [];
      if (value?.trim() && pems.length === 0) {
        context.addIssue({ code: "custom", message: "must hold PEM public keys" });
        return z.NEVER;
      }
      try {
        return pems.length > 0 ? parseFactoryKeys(pems) : undefined;
      } catch (error) {
        context.addIssue({ code: "custom", message: error instanceof Error ? error.message : String(error) });
        return z.NEVER;
      }
    }),
  THING_TYPE_NAME: thingTypeName,
});

// Ingest also pre-registers certificates that manifests bring: it provisions like the JITR function.
const ingestSchema = manifestSchema.extend({
  ...provisioningSchema.shape,
  MANIFEST_BUCKET: z.string().min(3),
});

const recallWorkerSchema = storeSchema.extend({
  RECALL_QUEUE_URL: z.string().url(),
  // Set when the SDK talks to an emulator (moto); then the IoT data endpoint is not looked up.
  AWS_ENDPOINT_URL: z.string().url().optional(),
});

const operationsSchema = manifestSchema.extend({
  ...recallWorkerSchema.shape,
  MANIFEST_BUCKET: ingestSchema.shape.MANIFEST_BUCKET,
});

export type StoreConfig = z.infer<typeof storeSchema>;
export type OperationsConfig = z.infer<typeof operationsSchema>;
export type ManifestConfig = z.infer<typeof manifestSchema>;
export type IngestConfig = z.infer<typeof ingestSchema>;
export type RecallWorkerConfig = z.infer<typeof recallWorkerSchema>;
export type ProvisioningConfig = z.infer<typeof provisioningSchema>;

const load = <T>(schema: z.ZodType<T, unknown>, env: NodeJS.ProcessEnv): T => {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join(".")} ${issue.message}`);
  throw new ConfigurationError(`invalid configuration: ${problems.join("; ")}`);
};

export const loadProvisioningConfig = (env: NodeJS.ProcessEnv = process.env): ProvisioningConfig =>
  load(provisioningSchema, env);
export const loadOperationsConfig = (env: NodeJS.ProcessEnv = process.env): OperationsConfig =>
  load(operationsSchema, env);
export const loadManifestConfig = (env: NodeJS.ProcessEnv = process.env): ManifestConfig =>
  load(manifestSchema, env);
export const loadIngestConfig = (env: NodeJS.ProcessEnv = process.env): IngestConfig =>
  load(ingestSchema, env);
export const loadRecallWorkerConfig = (env: NodeJS.ProcessEnv = process.env): RecallWorkerConfig =>
  load(recallWorkerSchema, env);
