import * as z from "zod/mini";
import { type ExpiryDeps, watchExpiry } from "#app/expiry-watch.js";
import { type ReconcileDeps, reconcile, reconcileDevice } from "#app/reconcile.js";
import { type DeviceId, isDeviceId } from "#domain/ids.js";
import { callerOf, json, jsonBody, parse } from "./api-event.js";
import type { Route } from "./operations-routes.js";

export type MaintenanceApiDeps = ReconcileDeps & ExpiryDeps;

// The API's function has 15 s: a call starts no new page of checks after this, and answers
// with a cursor to go on from.
const RECONCILE_BUDGET_MS = 7_000;

const reconcileBody = z
  .strictObject({
    limit: z._default(z.number().check(z.int(), z.minimum(1), z.maximum(200)), 50),
    cursor: z.optional(z.string().check(z.minLength(1), z.maxLength(8192))),
    repair: z._default(z.boolean(), false),
    deviceId: z.optional(
      z.pipe(
        z.string().check(z.refine(isDeviceId, "must be a Thing name: 1-128 of a-z A-Z 0-9 : _ -")),
        z.transform((id: string) => id as DeviceId),
      ),
    ),
  })
  .check(
    z.refine((body) => body.deviceId === undefined || body.cursor === undefined, {
      message: "give a deviceId or a cursor, not both",
      path: ["cursor"],
    }),
  );

const days = (fallback: number) =>
  z._default(z.coerce.number().check(z.int(), z.minimum(0), z.maximum(3650)), fallback);
const expiringQuery = z.object({
  days: days(30),
  caDays: days(90),
  limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(5000)), 1000),
  cursor: z.optional(z.string().check(z.minLength(1), z.maxLength(8192))),
});

/** The reconciler on demand, and the expiry watch: bounded calls that go on with a cursor. */
export const maintenanceRoutes = (deps: MaintenanceApiDeps): Route[] => [
  {
    method: "POST",
    path: "/reconcile",
    handler: async (event) => {
      const body = parse(reconcileBody, jsonBody(event), "body");
      const actor = callerOf(event);
      if (body.deviceId)
        return json(200, await reconcileDevice(deps, body.deviceId, { repair: body.repair, actor }));
      return json(
        200,
        await reconcile(deps, {
          limit: body.limit,
          ...(body.cursor ? { cursor: body.cursor } : {}),
          repair: body.repair,
          actor,
          deadline: deps.clock.now().getTime() + RECONCILE_BUDGET_MS,
        }),
      );
    },
  },
  {
    method: "GET",
    path: "/certificates/expiring",
    handler: async (event) => {
      const query = parse(expiringQuery, event.queryStringParameters, "query");
      return json(
        200,
        await watchExpiry(deps, {
          deviceDays: query.days,
          caDays: query.caDays,
          limit: query.limit,
          ...(query.cursor ? { cursor: query.cursor } : {}),
        }),
      );
    },
  },
];
