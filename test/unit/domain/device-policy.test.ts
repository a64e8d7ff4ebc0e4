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

  it("refuses a template that is not JSON with a validation error, not a crash", () => {
    expect(() => renderDevicePolicy('{"Statement": [', context)).toThrow(ValidationError);
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

  const T = "${iot:Connection.Thing.ThingName}";
  const ARN = "arn:aws:iot:eu-west-1:123456789012";
  const findings = (statement: object) => lintDevicePolicy(policy(statement)).join("\n");

  it("refuses an Allow with NotAction: it grants every action but the ones it names", () => {
    expect(
      findings({ Effect: "Allow", NotAction: "iot:Connect", Resource: `${ARN}:topic/devices/${T}/*` }),
    ).toMatch(/NotAction/);
  });

  it("refuses an Allow with NotResource: it grants every resource but the ones it names", () => {
    expect(
      findings({ Effect: "Allow", Action: "iot:Publish", NotResource: `${ARN}:topic/devices/${T}/secret` }),
    ).toMatch(/NotResource/);
  });

  it.each([
    `${ARN}:topic/devices/${T}*`,
    `${ARN}:topic/devices/*${T}`,
    `${ARN}:topic/devices/${T}?/data`,
    `${ARN}:topic/devices/?${T}/data`,
    `${ARN}:client/${T}*`,
    `${ARN}:topic/*/${T}/*`,
    `${ARN}:topicfilter/devices/+/${T}/#`,
    `arn:aws:iot:*:123456789012:topic/devices/${T}/*`,
  ])(
    "refuses %s: a wildcard before or beside the thing's name reaches other devices' resources",
    (resource) => {
      expect(findings({ Effect: "Allow", Action: "iot:Publish", Resource: resource })).toMatch(/wildcard/);
    },
  );

  it("refuses a thing-name variable outside the resource's path, where it scopes nothing", () => {
    expect(
      findings({ Effect: "Allow", Action: "iot:Publish", Resource: `arn:aws:iot:${T}:1:topic/*` }),
    ).toMatch(/not scoped/);
  });

  it("accepts wildcards after the thing's own topic level", () => {
    expect(
      findings({ Effect: "Allow", Action: "iot:Publish", Resource: `${ARN}:topic/devices/${T}/*` }),
    ).toBe("");
    expect(
      findings({ Effect: "Allow", Action: "iot:Subscribe", Resource: `${ARN}:topicfilter/devices/${T}/#` }),
    ).toBe("");
  });

  it("requires the IsAttached condition on Connect however the action is spelled: actions ignore case", () => {
    expect(findings({ Effect: "Allow", Action: "iot:connect", Resource: `${ARN}:client/${T}` })).toMatch(
      /IsAttached/,
    );
    expect(
      findings({
        Effect: "Allow",
        Action: "IOT:Connect",
        Resource: `${ARN}:client/${T}`,
        Condition: { Bool: { "iot:Connection.Thing.IsAttached": ["true", "false"] } },
      }),
    ).toMatch(/IsAttached/);
  });

  it("refuses a wildcard action written with ?", () => {
    expect(
      findings({ Effect: "Allow", Action: "iot:Pub?ish", Resource: `${ARN}:topic/devices/${T}/x` }),
    ).toMatch(/wildcard action/);
  });

  it("accepts Receive on every topic, as Device Defender does: only subscribed topics are delivered", () => {
    expect(findings({ Effect: "Allow", Action: "iot:Receive", Resource: "*" })).toBe("");
    expect(findings({ Effect: "Allow", Action: "iot:Receive", Resource: `${ARN}:topic/*` })).toBe("");
  });

  it.each([["iot:Publish"], ["iot:Subscribe"], [["iot:Receive", "iot:Publish"]]])(
    "refuses %j on every resource",
    (action) => {
      expect(findings({ Effect: "Allow", Action: action, Resource: "*" })).toMatch(/not scoped/);
    },
  );

  it("judges each Allow on its own: a Deny statement does not excuse a broad Allow", () => {
    const document = JSON.stringify({
      Statement: [
        { Effect: "Allow", Action: "iot:Publish", Resource: `${ARN}:topic/*` },
        { Effect: "Deny", Action: "iot:Publish", Resource: `${ARN}:topic/devices/*` },
      ],
    });
    expect(lintDevicePolicy(document).join("\n")).toMatch(/statement 1: .*not scoped/);
  });

  it.each([
    [{ Effect: "allow", Action: "iot:Publish", Resource: "*" }, /Effect/],
    [{ Action: "iot:Publish", Resource: "*" }, /Effect/],
    [{ Effect: "Allow", Action: 5, Resource: `${ARN}:topic/devices/${T}/x` }, /Action/],
    [{ Effect: "Allow", Action: "iot:Publish", Resource: [{ "Fn::Sub": "x" }] }, /Resource/],
  ])("refuses %j instead of passing or crashing on it", (statement, finding) => {
    expect(findings(statement)).toMatch(finding);
  });

  it("refuses a statement that is not an object", () => {
    expect(lintDevicePolicy(JSON.stringify({ Statement: [null] }))).toEqual(["statement 1: not an object"]);
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
