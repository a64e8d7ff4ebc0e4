import { createHash } from "node:crypto";
import * as z from "zod/mini";
import { type DiagnoseDeps, diagnoseDevice } from "#app/diagnose-device.js";
import { listDevices } from "#app/list-devices.js";
import { type OperationDeps, type OperatorAction, operateDevice } from "#app/operate-device.js";
import type { DeviceLedger, Page } from "#app/ports.js";
import { showCertificate } from "#app/show-certificate.js";
import { pageHistory, type ShowDeviceDeps, showDevice } from "#app/show-device.js";
import type { Device, DeviceEvent } from "#domain/device.js";
import { type BatchId, type CertificateId, type DeviceId, isBatchId, isDeviceId } from "#domain/ids.js";
import { DEVICE_STATES } from "#domain/lifecycle.js";
import { type ApiEvent, type ApiResult, callerOf, header, json, jsonBody, parse } from "./api-event.js";

export interface Route {
  readonly method: "GET" | "POST";
  readonly path: string;
  readonly handler: (event: ApiEvent) => Promise<ApiResult>;
}

/** Runs an operator command at most once per idempotency key; see functions/operations-api.ts. */
export type RunOnce = (key: string, command: Parameters<typeof operateDevice>[1]) => Promise<unknown>;

export type OperationsApiDeps = OperationDeps &
  ShowDeviceDeps &
  DiagnoseDeps & {
    readonly store: Pick<DeviceLedger, "pageDevices">;
    readonly runOnce?: RunOnce;
  };

// Ids are parsed into their branded types here, once; the use cases take them as they are.
const deviceIdSchema = z.pipe(
  z.string().check(z.refine(isDeviceId, "must be a Thing name: 1-128 of a-z A-Z 0-9 : _ -")),
  z.transform((id: string) => id as DeviceId),
);
const limit = (fallback: number, max: number) =>
  z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(max)), fallback);
const cursor = z.optional(z.string().check(z.minLength(1), z.maxLength(2048)));

export const devicePath = z.object({ deviceId: deviceIdSchema });
// A certificate's id is its SHA-256 fingerprint: accepted as IoT Core writes it or as a fingerprint
// is usually printed (upper case, colons).
export const certificatePath = z.object({
  certificateId: z.pipe(
    z.pipe(
      z.string(),
      z.transform((id: string) => id.replace(/:/g, "").toLowerCase()),
    ),
    z.pipe(
      z.string().check(z.regex(/^[0-9a-f]{64}$/, "must be a certificate id or SHA-256 fingerprint")),
      z.transform((id: string) => id as CertificateId),
    ),
  ),
});
const listQuery = z
  .object({
    state: z.optional(z.enum(DEVICE_STATES)),
    batchId: z.optional(
      z.pipe(
        z.string().check(z.refine(isBatchId, "must be a batch id")),
        z.transform((id: string) => id as BatchId),
      ),
    ),
    limit: limit(50, 100),
    cursor,
  })
  .check(
    z.refine((query) => (query.state === undefined) !== (query.batchId === undefined), {
      message: "give exactly one of state or batchId",
      path: ["state"],
    }),
  );
const eventsQuery = z.object({ limit: limit(100, 500), cursor });
const actionBody = z.strictObject({
  reason: z.optional(z.string().check(z.trim(), z.minLength(1), z.maxLength(500))),
});
const idempotencyKey = z
  .string()
  .check(z.minLength(1), z.maxLength(128), z.regex(/^[\x21-\x7e]+$/, "must be printable ASCII"));

const pageBody = <T>(page: Page<T>, name: string) => ({
  [name]: page.items,
  ...(page.cursor ? { cursor: page.cursor } : {}),
});

/** The operations API, route by route: validate the request, call one use case, shape the answer. */
export const operationsRoutes = (deps: OperationsApiDeps): Route[] => {
  const action = (name: OperatorAction): Route => ({
    method: "POST",
    path: `/devices/{deviceId}/${name}`,
    handler: async (event) => {
      const { deviceId } = parse(devicePath, event.pathParameters, "path");
      const { reason } = parse(actionBody, jsonBody(event), "body");
      const command = { deviceId, action: name, actor: callerOf(event), ...(reason ? { reason } : {}) };
      const key = header(event, "idempotency-key");
      if (key !== undefined && deps.runOnce) {
        parse(idempotencyKey, key, "header.Idempotency-Key");
        // One key per caller, route and device: another caller's key cannot replay this answer.
        const scoped = createHash("sha256")
          .update(`${command.actor}\n${name}\n${deviceId}\n${key}`)
          .digest("hex");
        return json(200, await deps.runOnce(scoped, command));
      }
      return json(200, await operateDevice(deps, command));
    },
  });
  return [
    {
      method: "GET",
      path: "/devices",
      handler: async (event) => {
        const query = parse(listQuery, event.queryStringParameters, "query");
        const selector = query.state ? { state: query.state } : { batchId: query.batchId as BatchId };
        const page = await listDevices(deps, selector, {
          limit: query.limit,
          ...(query.cursor ? { cursor: query.cursor } : {}),
        });
        return json(200, pageBody<Device>(page, "devices"));
      },
    },
    {
      method: "GET",
      path: "/devices/{deviceId}",
      handler: async (event) => {
        const { deviceId } = parse(devicePath, event.pathParameters, "path");
        return json(200, await showDevice(deps, deviceId, { recent: 20 }));
      },
    },
    {
      method: "GET",
      path: "/devices/{deviceId}/events",
      handler: async (event) => {
        const { deviceId } = parse(devicePath, event.pathParameters, "path");
        const query = parse(eventsQuery, event.queryStringParameters, "query");
        const page = await pageHistory(deps, deviceId, {
          limit: query.limit,
          ...(query.cursor ? { cursor: query.cursor } : {}),
        });
        return json(200, pageBody<DeviceEvent>(page, "events"));
      },
    },
    {
      method: "GET",
      path: "/devices/{deviceId}/why",
      handler: async (event) => {
        const { deviceId } = parse(devicePath, event.pathParameters, "path");
        return json(200, await diagnoseDevice(deps, deviceId));
      },
    },
    {
      method: "GET",
      path: "/certificates/{certificateId}",
      handler: async (event) => {
        const { certificateId } = parse(certificatePath, event.pathParameters, "path");
        return json(200, await showCertificate(deps, certificateId));
      },
    },
    action("revoke"),
    action("suspend"),
    action("reactivate"),
    action("decommission"),
  ];
};
