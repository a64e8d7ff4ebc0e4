import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { lintProvisioningTemplate } from "#domain/provisioning-template.js";
import { PRODUCTION_PACKAGE } from "#test/support/packaging-setup.js";

/**
 * Fleet provisioning as packaged: the template, the hook and who may invoke it, what IoT Core may do
 * as it applies the template, the claim certificates' policy, and the rule that hears devices'
 * first connections.
 */
type Resource = { Type: string; DependsOn?: string[]; Properties: Record<string, unknown> };
type Statement = {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
};
let resources: Record<string, Resource>;
let outputs: Record<string, unknown>;

beforeAll(() => {
  const template = JSON.parse(
    readFileSync(join(PRODUCTION_PACKAGE, "cloudformation-template-update-stack.json"), "utf8"),
  );
  resources = template.Resources;
  outputs = template.Outputs;
});

const properties = (id: string) => {
  const resource = resources[id];
  if (!resource) throw new Error(`no resource ${id}`);
  return resource.Properties;
};
const statementsOf = (role: string) =>
  (properties(role).Policies as { PolicyDocument: { Statement: Statement[] } }[]).flatMap(
    (policy) => policy.PolicyDocument.Statement,
  );
const sub = (text: string) => ({ "Fn::Sub": text });
const TEMPLATE_ARN =
  "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:provisioningtemplate/fleetgate-dev-fleet";

describe("fleet provisioning, packaged", () => {
  it("ships a fleet provisioning template whose hook is fleetgate's, and whose body is linted", () => {
    const template = properties("FleetProvisioningTemplate");
    expect(template).toMatchObject({
      TemplateName: "fleetgate-dev-fleet",
      TemplateType: "FLEET_PROVISIONING",
      Enabled: true,
      ProvisioningRoleArn: { "Fn::GetAtt": ["FleetProvisioningRole", "Arn"] },
      PreProvisioningHook: {
        TargetArn: { "Fn::GetAtt": ["ProvisioningHookLambdaFunction", "Arn"] },
        PayloadVersion: "2020-04-01",
      },
    });
    expect(
      lintProvisioningTemplate(template.TemplateBody as string, { thingGroupName: "fleetgate-dev-devices" }),
    ).toEqual([]);
    // IoT Core checks it may invoke the hook when the template is made.
    expect(resources.FleetProvisioningTemplate?.DependsOn).toContain("ProvisioningHookPermission");
  });

  it("lets IoT Core invoke the hook for this template of this account only", () => {
    expect(properties("ProvisioningHookPermission")).toEqual({
      FunctionName: { "Fn::GetAtt": ["ProvisioningHookLambdaFunction", "Arn"] },
      Action: "lambda:InvokeFunction",
      Principal: "iot.amazonaws.com",
      SourceAccount: { Ref: "AWS::AccountId" },
      SourceArn: sub(TEMPLATE_ARN),
    });
    const permissions = Object.values(resources).filter(
      (r) =>
        r.Type === "AWS::Lambda::Permission" && JSON.stringify(r.Properties).includes("ProvisioningHook"),
    );
    expect(permissions).toHaveLength(1);
  });

  it("answers within IoT Core's 5 s: the hook's timeout, its budget below it", () => {
    const hook = properties("ProvisioningHookLambdaFunction");
    expect(hook.Timeout).toBeLessThanOrEqual(5);
    const budget = Number(
      (hook.Environment as { Variables: Record<string, string> }).Variables.HOOK_BUDGET_MS,
    );
    // The budget, a write begun in it (1 s more) and recording a failure (0.5 s) stay below 5 s.
    expect(budget + 1500).toBeLessThan(5000);
  });

  it("lets IoT Core make only the Thing, put it in the devices' group and activate its certificate: no policy", () => {
    const statements = statementsOf("FleetProvisioningRole");
    expect(statements.flatMap((s) => [s.Action].flat()).sort()).toEqual(
      [
        "iot:AddThingToThingGroup",
        "iot:AddThingToThingGroup",
        "iot:AttachThingPrincipal",
        "iot:AttachThingPrincipal",
        "iot:CreateThing",
        "iot:UpdateCertificate",
        "iot:UpdateThing",
      ].sort(),
    );
    const group = statements.find((s) => s.Sid === "DeviceGroup");
    expect(group?.Resource).toEqual({ "Fn::GetAtt": ["DeviceThingGroup", "Arn"] });
    expect(properties("FleetProvisioningRole").AssumeRolePolicyDocument).toMatchObject({
      Statement: [{ Principal: { Service: "iot.amazonaws.com" }, Action: "sts:AssumeRole" }],
    });
  });

  it("gives claim certificates a session named claim.<anything> and the fleet provisioning topics of this template, nothing else", () => {
    const policy = properties("ClaimPolicy");
    expect(policy.PolicyName).toBe("fleetgate-dev-claim");
    const statements = (policy.PolicyDocument as { Statement: Statement[] }).Statement;
    const arn = (rest: string) =>
      sub(`arn:\${AWS::Partition}:iot:\${AWS::Region}:\${AWS::AccountId}:${rest}`);
    const topics = (kind: string) => [
      arn(`${kind}/$aws/certificates/create/*`),
      arn(`${kind}/$aws/certificates/create-from-csr/*`),
      arn(`${kind}/$aws/provisioning-templates/fleetgate-dev-fleet/provision/*`),
    ];
    expect(statements).toEqual([
      { Sid: "ConnectAsClaim", Effect: "Allow", Action: "iot:Connect", Resource: arn("client/claim.*") },
      {
        Sid: "FleetProvisioningTopics",
        Effect: "Allow",
        Action: ["iot:Publish", "iot:Receive"],
        Resource: topics("topic"),
      },
      {
        Sid: "FleetProvisioningTopicFilters",
        Effect: "Allow",
        Action: "iot:Subscribe",
        Resource: topics("topicfilter"),
      },
    ]);
  });

  it("hears devices' connections through a rule of its own, whose role only that rule may use", () => {
    const rule = properties("PresenceTopicRule");
    const payload = rule.TopicRulePayload as Record<string, unknown>;
    expect(payload.Sql).toBe("SELECT principalIdentifier, clientId FROM '$aws/events/presence/connected/+'");
    expect(payload.AwsIotSqlVersion).toBe("2016-03-23");
    expect(payload.Actions).toEqual([
      { Sqs: expect.objectContaining({ QueueUrl: { Ref: "PresenceQueue" } }) },
    ]);
    expect(payload.ErrorAction).toBeDefined();
    expect(properties("PresenceRuleRole").AssumeRolePolicyDocument).toMatchObject({
      Statement: [
        {
          Principal: { Service: "iot.amazonaws.com" },
          Condition: {
            ArnEquals: {
              "aws:SourceArn": {
                "Fn::Sub": [expect.stringMatching(/:rule\/\$\{RuleName\}$/), { RuleName: rule.RuleName }],
              },
            },
          },
        },
      ],
    });
    expect(properties("PresenceQueue").RedrivePolicy).toMatchObject({
      deadLetterTargetArn: { "Fn::GetAtt": ["PresenceDeadLetterQueue", "Arn"] },
    });
  });

  it("names the template and the claim policy in the stack's outputs, for fleetgate claim create", () => {
    expect(outputs).toMatchObject({
      FleetProvisioningTemplateName: { Value: { Ref: "FleetProvisioningTemplate" } },
      ClaimPolicyName: { Value: { Ref: "ClaimPolicy" } },
    });
  });
});
