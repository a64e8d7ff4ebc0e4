import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import * as z from "zod/mini";
import type { TimerQueue } from "#app/ports.js";
import type { CampaignPageMessage, CampaignQueue } from "#app/request-rotation.js";
import type { DeviceRotationMessage } from "#app/rotate-certificate.js";
import { type CertificateId, type DeviceId, isCertificateId, isDeviceId } from "#domain/ids.js";
import type { RotationTimer } from "#domain/rotation.js";
import { call } from "./aws-errors.js";
import "#domain/validation.js";

/**
 * What the rotation topic rule delivers (`SELECT topic() AS topic, clientid() AS clientId,
 * principal() AS principal, csr, rotationId`): the topic says which step, and whose topic it is;
 * the client id is the Thing name (the device policy lets a device connect only as its own Thing and
 * publish only under its own name); principal() is the certificate whose connection published.
 * Nothing the device wrote in its payload decides who it is.
 */
const ruleMessage = z.object({
  topic: z.string(),
  clientId: z.string().check(z.refine(isDeviceId, "must be a Thing name")),
  principal: z.string().check(z.refine(isCertificateId, "must be a certificate id")),
  csr: z.optional(z.string().check(z.maxLength(16_384))),
  rotationId: z.optional(z.string().check(z.minLength(1), z.maxLength(64))),
});

export type RotationParse =
  | { readonly ok: true; readonly message: DeviceRotationMessage }
  | {
      readonly ok: false;
      readonly why: string;
      /** Whom to tell, when the message says that much: a device's malformed request gets an answer. */
      readonly answerTo?: { readonly deviceId: DeviceId; readonly step: "csr" | "commit" };
    };

export const parseRotationMessage = (body: string, topicPrefix: string): RotationParse => {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { ok: false, why: "body is not JSON" };
  }
  const parsed = ruleMessage.safeParse(json);
  if (!parsed.success)
    return {
      ok: false,
      why: parsed.error.issues.map((issue) => `${issue.path.join(".")} ${issue.message}`).join("; "),
    };
  const { topic, clientId, principal, csr, rotationId } = parsed.data;
  const deviceId = clientId as DeviceId;
  const step = topic.slice(`${topicPrefix}/${deviceId}/rotation/`.length);
  if (!topic.startsWith(`${topicPrefix}/${deviceId}/rotation/`) || (step !== "csr" && step !== "commit"))
    return { ok: false, why: `topic ${topic} is not ${deviceId}'s rotation request or commit` };
  const speaker = principal as CertificateId;
  if (step === "csr") {
    if (csr === undefined) return { ok: false, why: "a request without csr", answerTo: { deviceId, step } };
    return { ok: true, message: { kind: "csr", deviceId, speaker, csr } };
  }
  return {
    ok: true,
    message: { kind: "commit", deviceId, speaker, ...(rotationId !== undefined ? { rotationId } : {}) },
  };
};

/** What the rotation worker's queue carries: a rotation's timer, or a campaign's page. */
export type RotationWork =
  | { readonly kind: "timer"; readonly timer: RotationTimer }
  | { readonly kind: "campaign-page"; readonly page: CampaignPageMessage };

const isoInstant = z.string().check(z.refine((value) => !Number.isNaN(Date.parse(value)), "must be a time"));
const work = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("timer"),
    timer: z.object({
      kind: z.enum(["commit-deadline", "revoke-replaced"]),
      deviceId: z.string().check(z.refine(isDeviceId, "must be a Thing name")),
      rotationId: z.string().check(z.minLength(1), z.maxLength(64)),
      dueAt: isoInstant,
    }),
  }),
  z.object({
    kind: z.literal("campaign-page"),
    page: z.object({
      campaignId: z.string().check(z.minLength(1), z.maxLength(64)),
      page: z.number().check(z.int(), z.minimum(0)),
      cursor: z.optional(z.string().check(z.minLength(1), z.maxLength(8192))),
    }),
  }),
]);

export const parseRotationWork = (body: string): RotationWork | undefined => {
  try {
    const parsed = work.safeParse(JSON.parse(body));
    return parsed.success ? (parsed.data as RotationWork) : undefined;
  } catch {
    return undefined;
  }
};

/** The rotation worker's queue over SQS: each message delayed until it is due (at most 15 minutes). */
export const sqsRotationWork = (sqs: SQSClient, queueUrl: string): TimerQueue & CampaignQueue => {
  const send = (body: RotationWork, delaySeconds: number) =>
    call("SendMessage", () =>
      sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: JSON.stringify(body),
          DelaySeconds: Math.max(0, Math.min(900, Math.ceil(delaySeconds))),
        }),
      ),
    );
  return {
    async send(timer, delaySeconds) {
      await send({ kind: "timer", timer }, delaySeconds);
    },
    async sendPage(page, delaySeconds) {
      await send({ kind: "campaign-page", page }, delaySeconds);
    },
  };
};
