import { manifestRulesFor } from "#domain/manifest.js";
import { lambdaClient, s3Client } from "../aws-clients.js";
import type { IngestConfig } from "../config.js";
import { type Continuation, selfInvocation } from "../lambda-continuation.js";
import { s3Manifests } from "../s3-manifests.js";
import { manifestDeps } from "./manifests.js";
import { provisioningDeps } from "./provisioning.js";

/** The manifest ingest's adapters: registration, and provisioning for the certificates rows bring. */
export const ingestDeps = (config: IngestConfig) => ({
  ...manifestDeps(config),
  // Rows of uploads may bring certificates: they must name their device as JITR reads it.
  manifestRules: manifestRulesFor(config.THING_TYPE_NAME, config.DEVICE_ID_FIELD),
  // Pre-registration is background work for the IoT budget: first connections are served first.
  provisioning: provisioningDeps(config, undefined, "background"),
  manifests: s3Manifests(s3Client(), config.MANIFEST_BUCKET),
  bucket: config.MANIFEST_BUCKET,
  // Outside Lambda (a test, a script) there is no function to go on in: the window's end fails the run.
  continuation: config.AWS_LAMBDA_FUNCTION_NAME
    ? selfInvocation(lambdaClient, config.AWS_LAMBDA_FUNCTION_NAME)
    : (undefined as Continuation | undefined),
});

export type IngestDeps = ReturnType<typeof ingestDeps>;
