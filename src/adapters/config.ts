import * as z from "zod/mini";
import { SUBJECT_FIELDS, type SubjectField } from "#domain/certificate-names.js";
import { ConfigurationError } from "#domain/errors.js";
import { parseFactoryKeys } from "#domain/manifest-signature.js";
import "#domain/validation.js";

/**
 * Configuration, read from the environment once per container and checked: a missing or bad
 * variable stops the cold start with a message naming it. Nothing else reads process.env.
 */
/**
 * A schema built when a loader first needs it: a function builds only the schemas of its own
 * configuration. Building every one of them when the module loads took about 5 ms of each cold
 * start (README "Numbers").
 */
const once = <T>(build: () => T): (() => T) => {
  let built: { readonly value: T } | undefined;
  return () => {
    built ??= { value: build() };
    return built.value;
  };
};

const seconds = (fallback: number) =>
  z._default(z.coerce.number().check(z.int(), z.minimum(0), z.maximum(86_400)), fallback);

// A blank value is no value: a deployment leaves optional parameters blank.
const blankAsUnset = once(() =>
  z.transform((value: unknown) => (value === "" ? undefined : value) as string | undefined),
);

// Devices' Things get this type; with a type a Thing may carry 50 attributes, without one 3.
// Empty means none, so a deployment can leave the parameter blank.
const thingTypeName = once(() =>
  z.pipe(
    blankAsUnset(),
    z.optional(z.string().check(z.regex(/^[a-zA-Z0-9:_-]{1,128}$/, "must be a thing type name"))),
  ),
);

// The deployment's IoT budget (iot-budget.ts): every function that calls IoT Core reads the same two.
export const IOT_BUDGET_DEFAULTS = { IOT_QUOTA_SHARE: 1, IOT_BACKGROUND_SHARE: 0.1 } as const;
const budgetFields = once(() => ({
  // The share of IoT Core's account quotas the whole deployment uses: all functions, all containers.
  IOT_QUOTA_SHARE: z._default(
    z.coerce.number().check(z.positive(), z.maximum(100)),
    IOT_BUDGET_DEFAULTS.IOT_QUOTA_SHARE,
  ),
  // The share of that budget work other than first connections may always take while they wait.
  IOT_BACKGROUND_SHARE: z._default(
    z.coerce.number().check(z.positive(), z.maximum(1)),
    IOT_BUDGET_DEFAULTS.IOT_BACKGROUND_SHARE,
  ),
}));
export type BudgetConfig = { readonly IOT_QUOTA_SHARE: number; readonly IOT_BACKGROUND_SHARE: number };

const storeSchema = once(() =>
  z.object({
    DEVICES_TABLE: z.string({ error: "is required" }).check(z.minLength(3, "must name the DynamoDB table")),
  }),
);

const provisioningSchema = once(() =>
  z.extend(storeSchema(), {
    // The devices' thing group: the device policy is attached to it, so joining it is all a device needs.
    DEVICE_THING_GROUP: z
      .string({ error: "is required" })
      .check(z.regex(/^[a-zA-Z0-9:_-]{1,128}$/, "must be a thing group name")),
    DEVICE_ID_FIELD: z._default(
      z.enum(SUBJECT_FIELDS as [SubjectField, ...SubjectField[]], {
        error: `must be one of ${SUBJECT_FIELDS.join(", ")}`,
      }),
      "CN",
    ),
    TOPIC_PREFIX: z._default(
      z
        .string()
        .check(z.regex(/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/, "must be topic levels without wildcards")),
      "devices",
    ),
    CLOCK_SKEW_SECONDS: seconds(300),
    CA_CACHE_SECONDS: seconds(60),
    THING_TYPE_NAME: thingTypeName(),
    // How long a certificate may wait for its manifest (or its CA to be reactivated) before it is refused.
    ALLOWLIST_WAIT_DAYS: z._default(z.coerce.number().check(z.positive(), z.maximum(365)), 30),
    ...budgetFields(),
    // The queue deferred records go back to (its URL as SQS gives it); else the one their ARN names.
    JITR_QUEUE_URL: z.optional(z.url()),
  }),
);

// Their defaults apply in approvalLimitsOf, which checks the two together.
const approvalDays = once(() => z.optional(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(365))));

const PEM_PUBLIC_KEY = /-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g;

const manifestSchema = once(() =>
  z.extend(storeSchema(), {
    // Trusted factory keys (PEM, one after the other). When any is set, every manifest must be signed.
    FACTORY_PUBLIC_KEYS: z.pipe(
      z.optional(z.string()),
      z.transform((value: string | undefined, context) => {
        const refuse = (message: string) => {
          context.issues.push({ code: "custom", message, input: value });
          return z.NEVER;
        };
        const pems = value?.match(PEM_PUBLIC_KEY) ?? [];
        if (value?.trim() && pems.length === 0) return refuse("must hold PEM public keys");
        try {
          return pems.length > 0 ? parseFactoryKeys(pems) : undefined;
        } catch (error) {
          return refuse(error instanceof Error ? error.message : String(error));
        }
      }),
    ),
    THING_TYPE_NAME: thingTypeName(),
    // How long an approval of a replacement certificate (an operator's, a manifest row's) lives:
    // by default, and at most (days).
    REPLACEMENT_APPROVAL_DAYS: approvalDays(),
    REPLACEMENT_APPROVAL_MAX_DAYS: approvalDays(),
  }),
);

// Ingest also pre-registers certificates that manifests bring: it provisions like the JITR function.
const ingestSchema = once(() =>
  z.extend(manifestSchema(), {
    ...provisioningSchema().shape,
    MANIFEST_BUCKET: z.string().check(z.minLength(3)),
    // Set by Lambda: a pre-registration longer than one invocation goes on in a new one.
    AWS_LAMBDA_FUNCTION_NAME: z.optional(z.string().check(z.minLength(1))),
  }),
);

const recallWorkerSchema = once(() =>
  z.extend(storeSchema(), {
    ...budgetFields(),
    RECALL_QUEUE_URL: z.url(),
    // Set when the SDK talks to an emulator (moto); then the IoT data endpoint is not looked up.
    AWS_ENDPOINT_URL: z.optional(z.url()),
  }),
);

// Clean retirement: how long a replaced, revoked or refused certificate stays in IoT Core (days).
const retirementSchema = once(() =>
  z.extend(storeSchema(), {
    ...budgetFields(),
    CERTIFICATE_RETENTION_DAYS: z._default(
      z.coerce.number().check(z.int(), z.minimum(0), z.maximum(3650)),
      30,
    ),
  }),
);

const operationsSchema = once(() =>
  z.extend(manifestSchema(), {
    ...recallWorkerSchema().shape,
    MANIFEST_BUCKET: ingestSchema().shape.MANIFEST_BUCKET,
  }),
);

// The reconciler and the expiry watch: the table, the devices' group, and the deployment's IoT budget.
const horizon = (fallback: number) =>
  z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(3650)), fallback);
const maintenanceSchema = once(() =>
  z.extend(storeSchema(), {
    ...budgetFields(),
    DEVICE_THING_GROUP: provisioningSchema().shape.DEVICE_THING_GROUP,
    // The expiry watch's horizons: certificates expiring within so many days are reported.
    EXPIRY_DEVICE_DAYS: horizon(30),
    EXPIRY_CA_DAYS: horizon(90),
  }),
);

// Certificate rotation's windows (seconds): the default, and the longest an operator may ask for.
const rotationWindowFields = once(() => ({
  // From a new certificate's issue to the device's commit over it; after it, the new one is revoked.
  ROTATION_COMMIT_SECONDS: z._default(
    z.coerce.number().check(z.int(), z.minimum(10), z.maximum(604_800)),
    3600,
  ),
  // From the commit, how long the replaced certificate stays INACTIVE before it is revoked.
  ROTATION_GRACE_SECONDS: z._default(
    z.coerce.number().check(z.int(), z.minimum(0), z.maximum(2_592_000)),
    86_400,
  ),
  // The queue of the rotation worker: timers and campaign pages.
  ROTATION_WORK_QUEUE_URL: z.url(),
}));

// The rotation function: a device's request and commit, from the rotation topic rule's queue.
const rotationSchema = once(() =>
  z.extend(storeSchema(), {
    ...budgetFields(),
    ...rotationWindowFields(),
    DEVICE_ID_FIELD: provisioningSchema().shape.DEVICE_ID_FIELD,
    TOPIC_PREFIX: provisioningSchema().shape.TOPIC_PREFIX,
    // The queue deferred records go back to (its URL as SQS gives it); else the one their ARN names.
    ROTATION_QUEUE_URL: z.optional(z.url()),
    AWS_ENDPOINT_URL: recallWorkerSchema().shape.AWS_ENDPOINT_URL,
  }),
);

// Whoever asks devices to rotate through IoT Jobs (the operations API, the rotation worker's campaigns).
const rotationRequestSchema = once(() =>
  z.extend(storeSchema(), {
    ...budgetFields(),
    ...rotationWindowFields(),
    // Jobs target Things by ARN: arn:<partition>:iot:<region>:<account>:thing/
    THING_ARN_PREFIX: z
      .string()
      .check(z.regex(/^arn:aws[a-z-]*:iot:[a-z0-9-]+:\d{12}:thing\/$/, "must be a Thing ARN up to thing/")),
  }),
);

// The pre-provisioning hook and the confirmation of its reservations (fleet provisioning).
const fleetSchema = once(() =>
  z.extend(storeSchema(), {
    CLOCK_SKEW_SECONDS: seconds(300),
    // What the hook's decision may take. IoT Core denies an answer after 5 s; a write begun in time
    // gets 1 s more and recording a failure 0.5 s, so 3,000 ms is the most that stays below.
    HOOK_BUDGET_MS: z._default(z.coerce.number().check(z.int(), z.minimum(50), z.maximum(3000)), 2000),
    // How long an allowed certificate has to connect first: IoT Core's ownership token lives an hour.
    RESERVATION_SECONDS: z._default(z.coerce.number().check(z.int(), z.minimum(60), z.maximum(86_400)), 3600),
  }),
);

export type FleetConfig = z.infer<ReturnType<typeof fleetSchema>>;
export type RotationConfig = z.infer<ReturnType<typeof rotationSchema>>;
export type RotationRequestConfig = z.infer<ReturnType<typeof rotationRequestSchema>>;
export type StoreConfig = z.infer<ReturnType<typeof storeSchema>>;
export type MaintenanceConfig = z.infer<ReturnType<typeof maintenanceSchema>>;
export type OperationsConfig = z.infer<ReturnType<typeof operationsSchema>>;
export type ManifestConfig = z.infer<ReturnType<typeof manifestSchema>>;
export type IngestConfig = z.infer<ReturnType<typeof ingestSchema>>;
export type RecallWorkerConfig = z.infer<ReturnType<typeof recallWorkerSchema>>;
export type RetirementConfig = z.infer<ReturnType<typeof retirementSchema>>;
export type ProvisioningConfig = z.infer<ReturnType<typeof provisioningSchema>>;

const load = <T>(schema: z.ZodMiniType<T, unknown>, env: NodeJS.ProcessEnv): T => {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join(".")} ${issue.message}`);
  throw new ConfigurationError(`invalid configuration: ${problems.join("; ")}`);
};

export const loadProvisioningConfig = (env: NodeJS.ProcessEnv = process.env): ProvisioningConfig =>
  load(provisioningSchema(), env);
export const loadFleetConfig = (env: NodeJS.ProcessEnv = process.env): FleetConfig =>
  load(fleetSchema(), env);
export const loadOperationsConfig = (env: NodeJS.ProcessEnv = process.env): OperationsConfig =>
  load(operationsSchema(), env);
export const loadManifestConfig = (env: NodeJS.ProcessEnv = process.env): ManifestConfig =>
  load(manifestSchema(), env);
export const loadIngestConfig = (env: NodeJS.ProcessEnv = process.env): IngestConfig =>
  load(ingestSchema(), env);
export const loadMaintenanceConfig = (env: NodeJS.ProcessEnv = process.env): MaintenanceConfig =>
  load(maintenanceSchema(), env);
const APPROVAL_DAYS = { REPLACEMENT_APPROVAL_DAYS: 7, REPLACEMENT_APPROVAL_MAX_DAYS: 30 } as const;

/** An approval's lifetimes (the defaults where not given), checked together: the default may not exceed the maximum. */
export const approvalLimitsOf = (
  config: Partial<Record<keyof typeof APPROVAL_DAYS, number | undefined>>,
): { readonly defaultMs: number; readonly maxMs: number } => {
  const days = config.REPLACEMENT_APPROVAL_DAYS ?? APPROVAL_DAYS.REPLACEMENT_APPROVAL_DAYS;
  const max = config.REPLACEMENT_APPROVAL_MAX_DAYS ?? APPROVAL_DAYS.REPLACEMENT_APPROVAL_MAX_DAYS;
  if (days > max)
    throw new ConfigurationError(
      `invalid configuration: REPLACEMENT_APPROVAL_DAYS ${days} is more than REPLACEMENT_APPROVAL_MAX_DAYS ${max}`,
    );
  return { defaultMs: days * 86_400_000, maxMs: max * 86_400_000 };
};

export const loadRetirementConfig = (env: NodeJS.ProcessEnv = process.env): RetirementConfig =>
  load(retirementSchema(), env);
export const loadRecallWorkerConfig = (env: NodeJS.ProcessEnv = process.env): RecallWorkerConfig =>
  load(recallWorkerSchema(), env);
export const loadRotationConfig = (env: NodeJS.ProcessEnv = process.env): RotationConfig =>
  load(rotationSchema(), env);
export const loadRotationRequestConfig = (env: NodeJS.ProcessEnv = process.env): RotationRequestConfig =>
  load(rotationRequestSchema(), env);
