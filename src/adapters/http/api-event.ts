import type { APIGatewayProxyEventV2WithIAMAuthorizer, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import type * as z from "zod/mini";
import { ValidationError } from "#domain/errors.js";
import "#domain/validation.js";
import { type Problem, problemFor } from "./problem.js";

/** What API Gateway's HTTP API (payload 2.0, IAM authorisation) hands the function. */
export type ApiEvent = APIGatewayProxyEventV2WithIAMAuthorizer;
export type ApiResult = APIGatewayProxyStructuredResultV2;

export const json = (statusCode: number, body: unknown): ApiResult => ({
  statusCode,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

export const problem = (body: Problem): ApiResult => ({
  statusCode: body.status,
  headers: {
    "content-type": "application/problem+json",
    ...(body.status === 503 ? { "retry-after": "1" } : {}),
  },
  body: JSON.stringify(body),
});

/** Maps any failure to its problem answer; the caller decides what to log. */
export const errorResult = (error: unknown): ApiResult => problem(problemFor(error));

/** The authenticated caller: API Gateway's IAM authoriser puts the caller's ARN here. */
export const callerOf = (event: ApiEvent): string => {
  const arn = event.requestContext.authorizer?.iam?.userArn;
  if (!arn) throw new ValidationError("the request carries no authenticated caller");
  return arn;
};

/** Parses one part of the request with a schema; the problem names every offending field. */
export const parse = <T>(schema: z.ZodMiniType<T>, value: unknown, where: string): T => {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  throw new ValidationError(
    `invalid ${where}`,
    result.error.issues.map((issue) => `${[where, ...issue.path].join(".")}: ${issue.message}`),
  );
};

export const jsonBody = (event: ApiEvent): unknown => {
  if (!event.body) return {};
  const text = event.isBase64Encoded ? Buffer.from(event.body, "base64").toString("utf8") : event.body;
  try {
    return JSON.parse(text);
  } catch {
    throw new ValidationError("invalid body", ["body: is not JSON"]);
  }
};

export const header = (event: ApiEvent, name: string): string | undefined => {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {}))
    if (key.toLowerCase() === wanted) return value;
  return undefined;
};
