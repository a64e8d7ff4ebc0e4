import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { lintDevicePolicy, renderDevicePolicy } from "#domain/device-policy.js";
import { ValidationError } from "#domain/errors.js";

const template = readFileSync(new URL("../../../templates/device-policy.json", import.meta.url), "utf8");
const context = { region: "eu-west-1", accountId: "123456789012", topicPrefix: "devices" };

describe("renderDevicePolicy", () => {
  it("renders the shared template into a compact, least-privilege document within IoT's size limit", () => {
    const document = renderDevicePolicy(template, context);
    expect(document.length).toBeLessThanOrEqual(2048);
    expect(document).not.toContain("{{");
    const policy = JSON.parse(document);
    expect(policy.Statement[0]).toEqual({
      Sid: "ConnectAsOwnThing",
      Effect: "Allow",
      Action: "iot:Connect",
      Resource: "arn:aws:iot:eu-west-1:123456789012:client/${iot:Connection.Thing.ThingName}",
      Condition: { Bool: { "iot:Connection.Thing.IsAttached": "true" } },
    });
    expect(lintDevicePolicy(document)).toEqual([]);
  });

  it("refuses a topic prefix that would widen the policy", () => {
    expect(() => renderDevicePolicy(template, { ...context, topicPrefix: "#" })).toThrow(ValidationError);
    expect(() => renderDevicePolicy(template, { ...context, topicPrefix: "a/*" })).toThrow(/topicPrefix/);
  });

  it("refuses a template with an unknown placeholder", () => {
    expect(() => renderDevicePolicy('{"Statement":[],"x":"{{nope}}"}', context)).toThrow(/nope/);
  });
});

describe("lintDevicePolicy", () => {
  const policy = (statement: object) => JSON.stringify({ Version: "2012-10-17", Statement: [statement] });

  it.each([
    [
      {
        Effect: "Allow",
        Action: "iot:*",
        Resource: "arn:aws:iot:r:1:client/${iot:Connection.Thing.ThingName}",
      },
      /wildcard action/,
    ],
    [{ Effect: "Allow", Action: "iot:Publish", Resource: "*" }, /not scoped/],
    [{ Effect: "Allow", Action: "iot:Connect", Resource: "arn:aws:iot:r:1:client/*" }, /not scoped/],
    [
      {
        Effect: "Allow",
        Action: "iot:Connect",
        Resource: "arn:aws:iot:r:1:client/${iot:Connection.Thing.ThingName}",
      },
      /IsAttached/,
    ],
    [
      {
        Effect: "Allow",
        Action: "iot:Subscribe",
        Resource: "arn:aws:iot:r:1:topicfilter/$aws/things/+/shadow/update",
      },
      /not scoped/,
    ],
  ])("flags %j", (statement, finding) => {
    expect(lintDevicePolicy(policy(statement)).join("\n")).toMatch(finding);
  });

  it("flags a document over 2,048 characters", () => {
    const resources = Array.from(
      { length: 40 },
      (_, i) => `arn:aws:iot:r:1:topic/t${i}/\${iot:Connection.Thing.ThingName}`,
    );
    expect(
      lintDevicePolicy(policy({ Effect: "Allow", Action: "iot:Publish", Resource: resources })),
    ).toContain("document exceeds 2048 characters without white space");
  });
});
