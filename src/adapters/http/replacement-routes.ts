import * as z from "zod/mini";
import { type ApprovalDeps, expectCertificate } from "#app/approve-replacement.js";
import { callerOf, json, jsonBody, parse } from "./api-event.js";
import { certificatePath, devicePath, type Route } from "./operations-routes.js";

const expectBody = z.strictObject({
  // A fingerprint as IoT Core writes a certificate id, or as it is usually printed (upper case, colons).
  certificateSha256: certificatePath.shape.certificateId,
  expiresIn: z.optional(z.string().check(z.maxLength(16))),
  reason: z.optional(z.string().check(z.trim(), z.minLength(1), z.maxLength(500))),
});

/** Planned re-provisioning: an operator approves, in advance, the certificate that replaces a device's. */
export const replacementRoutes = (deps: ApprovalDeps): Route[] => [
  {
    method: "POST",
    path: "/devices/{deviceId}/expect-cert",
    handler: async (event) => {
      const { deviceId } = parse(devicePath, event.pathParameters, "path");
      const body = parse(expectBody, jsonBody(event), "body");
      const approval = await expectCertificate(deps, {
        deviceId,
        certificateSha256: body.certificateSha256,
        actor: callerOf(event),
        ...(body.expiresIn ? { expiresIn: body.expiresIn } : {}),
        ...(body.reason ? { reason: body.reason } : {}),
      });
      return json(200, { approval });
    },
  },
];
