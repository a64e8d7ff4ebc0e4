import { z } from "zod";
import { SUBJECT_FIELDS, type SubjectField } from "#domain/certificate.js";
import { ConfigurationError } from "#domain/errors.js";
import { isPolicyName } from "#domain/ids.js";

/**
 * Configuration, read from the environment once per container and checked: a missing or bad
 * variable stops the cold start with a message naming it. Nothing else reads process.env.
 */
const seconds = (fallback: number) => z.coerce.number().int().min(0).max(86_400).default(fallback);

const storeSchema = z.object({
  DEVICES_TABLE: z.string({ error: "is required" }).min(3, "must name the DynamoDB table"),
});

const provisioningSchema = storeSchema.extend({
  DEVICE_POLICY_NAME: z.string({ error: "is required" }).refine(isPolicyName, "must be 1-128 of [\\w+=,.@-]"),
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
  // The share of IoT Core's account quotas one container may use: 1 / the queue's maximum concurrency.
  IOT_QUOTA_SHARE: z.coerce.number().positive().max(100).default(0.5),
});

const operationsSchema = storeSchema.extend({
  DEVICE_POLICY_NAME: provisioningSchema.shape.DEVICE_POLICY_NAME,
  // Set when the SDK talks to an emulator (moto); then the IoT data endpoint is not looked up.
  AWS_ENDPOINT_URL: z.string().url().optional(),
});

export type StoreConfig = z.infer<typeof storeSchema>;
export type OperationsConfig = z.infer<typeof operationsSchema>;
export type ProvisioningConfig = z.infer<typeof provisioningSchema>;

const load = <T>(schema: z.ZodType<T>, env: NodeJS.ProcessEnv): T => {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join(".")} ${issue.message}`);
  throw new ConfigurationError(`invalid configuration: ${problems.join("; ")}`);
};

export const loadProvisioningConfig = (env: NodeJS.ProcessEnv = process.env): ProvisioningConfig =>
  load(provisioningSchema, env);
export const loadStoreConfig = (env: NodeJS.ProcessEnv = process.env): StoreConfig => load(storeSchema, env);
export const loadOperationsConfig = (env: NodeJS.ProcessEnv = process.env): OperationsConfig =>
  load(operationsSchema, env);
