import * as z from "zod/mini";
import {
  type CampaignDeps,
  type RequestDeps,
  requestRotation,
  showCampaign,
  startCampaign,
} from "#app/request-rotation.js";
import { type BatchId, type DeviceId, isBatchId, isDeviceId } from "#domain/ids.js";
import { callerOf, json, jsonBody, parse } from "./api-event.js";
import type { Route } from "./operations-routes.js";

/** Rotation asked for by an operator: one device, or a campaign; and a campaign's progress. */
export type RotationApiDeps = CampaignDeps & RequestDeps;

const deviceIdSchema = z.pipe(
  z.string().check(z.refine(isDeviceId, "must be a Thing name: 1-128 of a-z A-Z 0-9 : _ -")),
  z.transform((id: string) => id as DeviceId),
);
// The longest windows are the deployment's; asking for longer is refused by the use case.
const windowFields = {
  commitWithinSeconds: z.optional(z.number().check(z.int(), z.minimum(10), z.maximum(604_800))),
  graceSeconds: z.optional(z.number().check(z.int(), z.minimum(0), z.maximum(2_592_000))),
};
const reason = z.optional(z.string().check(z.trim(), z.minLength(1), z.maxLength(500)));
const rotateBody = z.strictObject({ reason, ...windowFields });
const campaignBody = z
  .strictObject({
    batchId: z.optional(
      z.pipe(
        z.string().check(z.refine(isBatchId, "must be a batch id")),
        z.transform((id: string) => id as BatchId),
      ),
    ),
    expiringWithinDays: z.optional(z.number().check(z.int(), z.minimum(0), z.maximum(3650))),
    reason,
    ...windowFields,
  })
  .check(
    z.refine((body) => (body.batchId === undefined) !== (body.expiringWithinDays === undefined), {
      message: "give exactly one of batchId or expiringWithinDays",
      path: ["batchId"],
    }),
  );
const campaignPath = z.object({
  campaignId: z.string().check(z.regex(/^[0-9a-f-]{36}$/, "must be a campaign id")),
});
const statusQuery = z.object({
  limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(10)), 2),
  cursor: z.optional(z.string().check(z.minLength(1), z.maxLength(2048))),
});

const windowsOf = (body: {
  commitWithinSeconds?: number | undefined;
  graceSeconds?: number | undefined;
}) => ({
  ...(body.commitWithinSeconds !== undefined ? { commitWithinSeconds: body.commitWithinSeconds } : {}),
  ...(body.graceSeconds !== undefined ? { graceSeconds: body.graceSeconds } : {}),
});

export const rotationRoutes = (deps: RotationApiDeps): Route[] => [
  {
    method: "POST",
    path: "/devices/{deviceId}/rotate",
    handler: async (event) => {
      const { deviceId } = parse(z.object({ deviceId: deviceIdSchema }), event.pathParameters, "path");
      const body = parse(rotateBody, jsonBody(event), "body");
      return json(
        200,
        await requestRotation(deps, {
          deviceId,
          actor: callerOf(event),
          ...(body.reason ? { reason: body.reason } : {}),
          windows: windowsOf(body),
        }),
      );
    },
  },
  {
    method: "POST",
    path: "/rotations",
    handler: async (event) => {
      const body = parse(campaignBody, jsonBody(event), "body");
      const campaign = await startCampaign(deps, {
        selector:
          body.batchId !== undefined
            ? { batchId: body.batchId }
            : { expiringWithinDays: body.expiringWithinDays ?? 0 },
        actor: callerOf(event),
        ...(body.reason ? { reason: body.reason } : {}),
        windows: windowsOf(body),
      });
      return json(202, { campaign });
    },
  },
  {
    method: "GET",
    path: "/rotations/{campaignId}",
    handler: async (event) => {
      const { campaignId } = parse(campaignPath, event.pathParameters, "path");
      const query = parse(statusQuery, event.queryStringParameters, "query");
      return json(
        200,
        await showCampaign(deps, campaignId, {
          limit: query.limit,
          ...(query.cursor ? { cursor: query.cursor } : {}),
        }),
      );
    },
  },
];
