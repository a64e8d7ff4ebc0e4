import { readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The operators' IAM policies (iam/*.json) as an account gets them: the placeholders filled for
 * one deployment, and evaluated as IAM evaluates an identity policy's Allow statements.
 */
const ROOT = join(import.meta.dirname, "..", "..");

export const OPERATOR_POLICIES = ["operator-read-only", "operator-admin"] as const;
export type OperatorPolicyName = (typeof OPERATOR_POLICIES)[number];

export interface Deployment {
  readonly region: string;
  readonly account: string;
  readonly apiId: string;
  readonly stage: string;
}

export interface PolicyDocument {
  readonly Version: string;
  readonly Statement: readonly {
    readonly Sid?: string;
    readonly Effect: string;
    readonly Action: string | readonly string[];
    readonly Resource: string | readonly string[];
  }[];
}

/** The policy's file with `<region>`, `<account>`, `<apiId>` and `<stage>` filled in, as the README's sed does. */
export const operatorPolicy = (
  name: OperatorPolicyName | "ca-admin" | "claim-admin",
  deployment: Deployment,
): PolicyDocument => {
  const text = readFileSync(join(ROOT, "iam", `${name}.json`), "utf8")
    .replaceAll("<region>", deployment.region)
    .replaceAll("<account>", deployment.account)
    .replaceAll("<apiId>", deployment.apiId)
    .replaceAll("<stage>", deployment.stage);
  return JSON.parse(text) as PolicyDocument;
};

/** IAM's wildcards: `*` any run of characters (slashes too), `?` any one. */
const glob = (pattern: string, caseInsensitive = false): RegExp =>
  new RegExp(
    `^${pattern
      .split("")
      .map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.+^${}()|[\]\\]/g, "\\$&")))
      .join("")}$`,
    caseInsensitive ? "i" : "",
  );

/** An ARN's six parts; the resource is everything after the fifth colon. */
const arnParts = (arn: string): string[] => {
  const parts = arn.split(":");
  return [...parts.slice(0, 5), parts.slice(5).join(":")];
};

const resourceMatches = (pattern: string, arn: string): boolean => {
  if (pattern === "*") return true;
  const wanted = arnParts(pattern);
  const actual = arnParts(arn);
  return wanted.length === 6 && actual.length === 6 && wanted.every((p, i) => glob(p).test(actual[i] ?? ""));
};

/** Whether an Allow statement of the policy grants the action on the resource (there is no Deny in them). */
export const allows = (policy: PolicyDocument, action: string, resource: string): boolean =>
  policy.Statement.some(
    (statement) =>
      statement.Effect === "Allow" &&
      [statement.Action].flat().some((pattern) => glob(pattern, true).test(action)) &&
      [statement.Resource].flat().some((pattern) => resourceMatches(pattern, resource)),
  );

/** The ARN API Gateway authorises a call to an HTTP API's route with (its stage is `$default`). */
export const invokeArn = (deployment: Deployment, method: string, path: string): string =>
  `arn:aws:execute-api:${deployment.region}:${deployment.account}:${deployment.apiId}/$default/${method}/${path.replace(/^\//, "")}`;
