import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  allows,
  type Deployment,
  invokeArn,
  OPERATOR_POLICIES,
  operatorPolicy,
} from "#test/support/operator-policies.js";
import { PRODUCTION_PACKAGE, ROOT } from "#test/support/packaging-setup.js";

/**
 * The operators' IAM policies (iam/operator-read-only.json, iam/operator-admin.json) against the
 * operations API's routes as openapi.yaml lists them: each allows exactly the routes it should, on
 * its own deployment's API only, and what `fleetgate config` reads.
 */
const DEPLOYMENT: Deployment = {
  region: "eu-west-1",
  account: "123456789012",
  apiId: "a1b2c3d4e5",
  stage: "prod",
};

const routes = Object.entries(
  parse(readFileSync(join(ROOT, "openapi.yaml"), "utf8")).paths as Record<string, Record<string, unknown>>,
).flatMap(([path, methods]) =>
  Object.keys(methods).map((method) => ({ method: method.toUpperCase(), path })),
);

// Path parameters as callers may fill them, method names and the stage's name among them: a
// wildcard that lets a read-only caller revoke a device named GET would show here.
const SAMPLES = ["sensor-001", "GET", "$default", "a".repeat(64)];
const callsOf = (route: { method: string; path: string }) =>
  SAMPLES.map((sample) => ({
    ...route,
    arn: invokeArn(DEPLOYMENT, route.method, route.path.replace(/\{[^}]+\}/g, sample)),
  }));

const invokable = (policy: ReturnType<typeof operatorPolicy>) =>
  routes
    .filter((route) => callsOf(route).every((call) => allows(policy, "execute-api:Invoke", call.arn)))
    .map((route) => `${route.method} ${route.path}`)
    .sort();

describe("operator IAM policies", () => {
  it("are grants only: Allow statements of execute-api:Invoke and CloudFormation's DescribeStacks", () => {
    for (const name of OPERATOR_POLICIES) {
      const policy = operatorPolicy(name, DEPLOYMENT);
      expect(policy.Version).toBe("2012-10-17");
      expect(new Set(policy.Statement.map((s) => s.Effect))).toEqual(new Set(["Allow"]));
      expect(new Set(policy.Statement.flatMap((s) => [s.Action].flat()))).toEqual(
        new Set(["execute-api:Invoke", "cloudformation:DescribeStacks"]),
      );
    }
  });

  it("lets a read-only operator call every GET route of the API and nothing else", () => {
    const policy = operatorPolicy("operator-read-only", DEPLOYMENT);
    const gets = routes.filter((r) => r.method === "GET");
    expect(gets.length).toBeGreaterThanOrEqual(5);
    expect(invokable(policy)).toEqual(gets.map((r) => `${r.method} ${r.path}`).sort());
    for (const route of routes.filter((r) => r.method !== "GET"))
      for (const call of callsOf(route))
        expect(allows(policy, "execute-api:Invoke", call.arn), call.arn).toBe(false);
  });

  it("lets an admin operator call every route of the API", () => {
    const policy = operatorPolicy("operator-admin", DEPLOYMENT);
    expect(invokable(policy)).toEqual(routes.map((r) => `${r.method} ${r.path}`).sort());
  });

  it("grants nothing on another API, another account or another region", () => {
    for (const name of OPERATOR_POLICIES) {
      const policy = operatorPolicy(name, DEPLOYMENT);
      for (const other of [
        { ...DEPLOYMENT, apiId: "zz9y8x7w6v" },
        { ...DEPLOYMENT, account: "210987654321" },
        { ...DEPLOYMENT, region: "us-east-1" },
      ])
        expect(allows(policy, "execute-api:Invoke", invokeArn(other, "GET", "/devices")), name).toBe(false);
    }
  });

  it("lets both read the deployment's stack outputs for fleetgate config, and no other stack's", () => {
    const stack = (name: string) =>
      `arn:aws:cloudformation:${DEPLOYMENT.region}:${DEPLOYMENT.account}:stack/${name}/0f2c5e70-1d2b-11ef-9b0a-0a1b2c3d4e5f`;
    for (const name of OPERATOR_POLICIES) {
      const policy = operatorPolicy(name, DEPLOYMENT);
      expect(allows(policy, "cloudformation:DescribeStacks", stack("fleetgate-prod")), name).toBe(true);
      expect(allows(policy, "cloudformation:DescribeStacks", stack("fleetgate-prod-other")), name).toBe(
        false,
      );
      expect(allows(policy, "cloudformation:DescribeStacks", stack("payroll")), name).toBe(false);
    }
  });

  it("name the stage the deployed API serves its routes on ($default)", () => {
    const template = JSON.parse(
      readFileSync(join(PRODUCTION_PACKAGE, "cloudformation-template-update-stack.json"), "utf8"),
    ) as { Resources: Record<string, { Type: string; Properties: { StageName?: string } }> };
    const stages = Object.values(template.Resources).filter((r) => r.Type === "AWS::ApiGatewayV2::Stage");
    expect(stages.map((s) => s.Properties.StageName)).toEqual(["$default"]);
    expect(invokeArn(DEPLOYMENT, "GET", "/devices")).toContain("/$default/GET/devices");
  });
});
