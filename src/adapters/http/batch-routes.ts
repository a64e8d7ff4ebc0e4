import { randomUUID } from "node:crypto";
import * as z from "zod/mini";
import type { BatchRecords } from "#app/ports.js";
import { type RecallDeps, startRecall } from "#app/recall-batch.js";
import { recallCa } from "#app/recall-ca.js";
import { type BatchDeps, registerBatch } from "#app/register-batch.js";
import { listBatches, showBatch } from "#app/show-batch.js";
import { type BatchRecord, recallState } from "#domain/batch.js";
import { ValidationError } from "#domain/errors.js";
import { type BatchId, type CaCertificateId, isBatchId, isCaCertificateId } from "#domain/ids.js";
import { repeatedJsonKey } from "#domain/manifest.js";
import { type ApiEvent, callerOf, header, json, jsonBody, parse, problem } from "./api-event.js";
import type { Route } from "./operations-routes.js";

/** Hands out S3 upload URLs for large manifests (see adapters/s3-manifests.ts). */
export type UploadTickets = (metadata: {
  caCertificateId?: string;
  batchId: string;
  signature?: string;
  actor: string;
}) => Promise<unknown>;

export type BatchApiDeps = BatchDeps &
  RecallDeps & {
    readonly store: Pick<BatchRecords, "pageBatches">;
    readonly uploadTicket: UploadTickets;
  };

// Lambda's synchronous payload limit is 6 MB; larger manifests go through an upload.
const MAX_INLINE_BYTES = 5 * 1024 * 1024;

const caCertificateId = z
  .string()
  .check(z.refine(isCaCertificateId, "must be a CA certificate id (64 hex characters)"));
const batchId = z.pipe(
  z.string().check(z.refine(isBatchId, "must be 1-64 of a-z A-Z 0-9 . _ : -")),
  z.transform((id: string) => id as BatchId),
);
const signature = z.string().check(z.regex(/^[A-Za-z0-9+/=]{16,400}$/, "must be a base64 signature"));
// A batch names its CA, or says it has none (fleetOnly: its devices are born only through fleet
// provisioning). Never by omission: a CA forgotten would leave a batch no certificate of it can join.
const oneOfCaOrFleetOnly = z.refine<{ caCertificateId?: string | undefined; fleetOnly?: unknown }>(
  (request) => (request.caCertificateId === undefined) !== (request.fleetOnly === undefined),
  { message: "give exactly one of caCertificateId or fleetOnly", path: ["caCertificateId"] },
);
// Where a manifest's devices go: its CA or fleetOnly ("true" in a query string), and the batch id.
const bodyTarget = {
  caCertificateId: z.optional(caCertificateId),
  fleetOnly: z.optional(z.literal(true)),
  batchId: z.optional(batchId),
};
const manifestQuery = z
  .object({ ...bodyTarget, fleetOnly: z.optional(z.literal("true")) })
  .check(oneOfCaOrFleetOnly);
const jsonManifest = z
  .object({
    ...bodyTarget,
    devices: z.array(z.record(z.string(), z.unknown())).check(z.minLength(1), z.maxLength(10_000)),
  })
  .check(oneOfCaOrFleetOnly);
const uploadRequest = z
  .strictObject({ ...bodyTarget, signature: z.optional(signature) })
  .check(oneOfCaOrFleetOnly);
const recallRequest = z.strictObject({
  reason: z.string().check(z.trim(), z.minLength(1), z.maxLength(500)),
});
const pageQuery = z.object({
  limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(100)), 25),
  cursor: z.optional(z.string().check(z.minLength(1), z.maxLength(2048))),
});
const batchPath = z.object({ batchId });
const caPath = z.object({
  caCertificateId: z.pipe(
    caCertificateId,
    z.transform((id: string) => id as CaCertificateId),
  ),
});

/** A batch as the API shows it: a recall carries its derived state. */
const view = (batch: BatchRecord) =>
  batch.recall ? { ...batch, recall: { ...batch.recall, state: recallState(batch.recall) } } : batch;

const bodyBytes = (event: ApiEvent): Buffer => {
  const bytes = Buffer.from(event.body ?? "", event.isBase64Encoded ? "base64" : "utf8");
  if (bytes.length > MAX_INLINE_BYTES) {
    throw new ValidationError(
      `manifest of ${bytes.length} bytes is too large to send inline: ask POST /batches/uploads for an upload URL`,
    );
  }
  return bytes;
};

/** The manifest of an inline request: CSV or JSON lines as sent, or the JSON body's devices as JSON lines. */
const inlineManifest = (event: ApiEvent) => {
  const type = (header(event, "content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  const signed = header(event, "x-manifest-signature");
  if (type === "application/json") {
    if (signed)
      throw new ValidationError(
        "a signed manifest must be sent as the signed bytes: text/csv or application/x-ndjson",
      );
    const raw = jsonBody(event);
    // JSON.parse keeps the last of two same-named fields: a device's row would lose the other silently.
    const repeated = repeatedJsonKey(bodyBytes(event).toString("utf8"));
    if (repeated)
      throw new ValidationError("invalid body", [`body: field ${repeated} appears twice in one object`]);
    const body = parse(jsonManifest, raw, "body");
    const bytes = Buffer.from(body.devices.map((device) => JSON.stringify(device)).join("\n"));
    return { bytes, caCertificateId: body.caCertificateId, batchId: body.batchId, signature: undefined };
  }
  if (type !== "text/csv" && type !== "application/x-ndjson" && type !== "application/jsonl") {
    throw new ValidationError("content-type must be application/json, text/csv or application/x-ndjson");
  }
  const query = parse(manifestQuery, event.queryStringParameters, "query");
  return {
    bytes: bodyBytes(event),
    caCertificateId: query.caCertificateId,
    batchId: query.batchId,
    signature: signed === undefined ? undefined : parse(signature, signed, "header.X-Manifest-Signature"),
  };
};

export const batchRoutes = (deps: BatchApiDeps): Route[] => [
  {
    method: "POST",
    path: "/batches",
    handler: async (event) => {
      const manifest = inlineManifest(event);
      const result = await registerBatch(deps, {
        open: () => [manifest.bytes],
        ...(manifest.caCertificateId ? { caCertificateId: manifest.caCertificateId } : {}),
        ...(manifest.batchId ? { batchId: manifest.batchId } : {}),
        ...(manifest.signature ? { signature: manifest.signature } : {}),
        actor: callerOf(event),
        source: "inline",
      });
      if (result.batch.state === "FAILED") {
        return problem({
          type: "https://fleetgate.dev/problems/manifest-rejected",
          title: "manifest rejected",
          status: 422,
          detail: `no row of batch ${result.batch.batchId} could be registered`,
          errors: result.issues.map((issue) => `line ${issue.line}: ${issue.kind}: ${issue.message}`),
        });
      }
      return json(result.replay ? 200 : 201, { ...result, batch: view(result.batch) });
    },
  },
  {
    method: "GET",
    path: "/batches",
    handler: async (event) => {
      const query = parse(pageQuery, event.queryStringParameters, "query");
      const page = await listBatches(deps, {
        limit: query.limit,
        ...(query.cursor ? { cursor: query.cursor } : {}),
      });
      return json(200, { batches: page.items.map(view), ...(page.cursor ? { cursor: page.cursor } : {}) });
    },
  },
  {
    method: "GET",
    path: "/batches/{batchId}",
    handler: async (event) => {
      const { batchId: id } = parse(batchPath, event.pathParameters, "path");
      return json(200, view(await showBatch(deps, id)));
    },
  },
  {
    method: "POST",
    path: "/batches/uploads",
    handler: async (event) => {
      const request = parse(uploadRequest, jsonBody(event), "body");
      // The batch id is fixed now, so the uploader knows where to look for the outcome.
      const id = request.batchId ?? `upload-${randomUUID()}`;
      const ticket = await deps.uploadTicket({
        ...(request.caCertificateId ? { caCertificateId: request.caCertificateId } : {}),
        ...(request.signature ? { signature: request.signature } : {}),
        batchId: id,
        actor: callerOf(event),
      });
      return json(201, { batchId: id, ...(ticket as object) });
    },
  },
  {
    method: "POST",
    path: "/batches/{batchId}/recall",
    handler: async (event) => {
      const { batchId: id } = parse(batchPath, event.pathParameters, "path");
      const { reason } = parse(recallRequest, jsonBody(event), "body");
      const recall = await startRecall(deps, { batchId: id, reason, actor: callerOf(event) });
      return json(202, { batchId: id, recall: { ...recall, state: recallState(recall) } });
    },
  },
  {
    method: "POST",
    path: "/cas/{caCertificateId}/recall",
    handler: async (event) => {
      const { caCertificateId: id } = parse(caPath, event.pathParameters, "path");
      const { reason } = parse(recallRequest, jsonBody(event), "body");
      const recall = await recallCa(deps, { caCertificateId: id, reason, actor: callerOf(event) });
      return json(202, {
        caCertificateId: id,
        batches: recall.batches.map(({ batchId, recall }) => ({
          batchId,
          recall: { ...recall, state: recallState(recall) },
        })),
      });
    },
  },
];
