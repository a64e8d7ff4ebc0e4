import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ValidationError } from "#domain/errors.js";
import type { BatchId } from "#domain/ids.js";
import {
  entryParameters,
  lintProvisioningTemplate,
  MAX_TEMPLATE_CHARACTERS,
  renderProvisioningTemplate,
} from "#domain/provisioning-template.js";

const template = readFileSync(new URL("../../../templates/fleet-provisioning.json", import.meta.url), "utf8");
const context = { thingGroupName: "fleetgate-dev-devices" };

const good = () => JSON.parse(renderProvisioningTemplate(template, context));
const lint = (body: object) => lintProvisioningTemplate(JSON.stringify(body), context);

describe("renderProvisioningTemplate", () => {
  it("renders the fleet template: the Thing named by the device id, in the devices' group, its certificate ACTIVE", () => {
    const body = renderProvisioningTemplate(template, context);
    expect(body.length).toBeLessThanOrEqual(MAX_TEMPLATE_CHARACTERS);
    expect(body).not.toMatch(/\{\{|\s/);
    const { Resources } = JSON.parse(body);
    expect(Resources.thing.Properties).toEqual({
      ThingName: { Ref: "DeviceId" },
      AttributePayload: { batch: { Ref: "BatchId" }, model: { Ref: "Model" } },
      ThingGroups: ["fleetgate-dev-devices"],
    });
    expect(Resources.certificate.Properties).toEqual({
      CertificateId: { Ref: "AWS::IoT::Certificate::Id" },
      Status: "ACTIVE",
    });
  });

  it("names the deployment's Thing type when it has one, and none otherwise", () => {
    const typed = JSON.parse(renderProvisioningTemplate(template, { ...context, thingTypeName: "sensor" }));
    expect(typed.Resources.thing.Properties.ThingTypeName).toBe("sensor");
    expect(good().Resources.thing.Properties).not.toHaveProperty("ThingTypeName");
  });

  it("refuses a group or type name that is not one, an unknown placeholder, and a body that is not JSON", () => {
    expect(() => renderProvisioningTemplate(template, { thingGroupName: "a/b" })).toThrow(ValidationError);
    expect(() => renderProvisioningTemplate(template, { ...context, thingTypeName: "*" })).toThrow(/type/);
    expect(() => renderProvisioningTemplate('{"x":"{{nope}}"}', context)).toThrow(/nope/);
    expect(() => renderProvisioningTemplate('{"Resources": ', context)).toThrow(/not JSON/);
  });
});

describe("lintProvisioningTemplate", () => {
  it("finds nothing in the shipped template", () => {
    expect(lint(good())).toEqual([]);
  });

  const changed = (change: (body: ReturnType<typeof good>) => void) => {
    const body = good();
    change(body);
    return lint(body);
  };

  it.each<[string, (body: ReturnType<typeof good>) => void, RegExp]>([
    [
      "a policy of its own",
      (b) => {
        b.Resources.policy = { Type: "AWS::IoT::Policy", Properties: { PolicyName: "x" } };
      },
      /policy/,
    ],
    [
      "a Thing named by something else than the device id",
      (b) => {
        b.Resources.thing.Properties.ThingName = "fixed";
      },
      /ThingName/,
    ],
    [
      "another group, or a second one",
      (b) => {
        b.Resources.thing.Properties.ThingGroups = ["fleetgate-dev-devices", "admins"];
      },
      /ThingGroups/,
    ],
    [
      "a certificate left INACTIVE, or another one than IoT Core just made",
      (b) => {
        b.Resources.certificate.Properties = { CertificateId: "abc", Status: "INACTIVE" };
      },
      /CertificateId[\s\S]*Status|Status/,
    ],
    [
      "a parameter the device would choose",
      (b) => {
        b.Parameters.Location = { Type: "String" };
        b.Resources.thing.Properties.AttributePayload.location = { Ref: "Location" };
      },
      /Location would be the device's choice/,
    ],
    [
      "a default device id",
      (b) => {
        b.Parameters.DeviceId.Default = "device-0";
      },
      /default/,
    ],
    [
      "a Ref to a parameter never declared",
      (b) => {
        b.Resources.thing.Properties.AttributePayload.x = { Ref: "Nowhere" };
      },
      /Nowhere is referenced but not declared/,
    ],
    [
      "a second Thing",
      (b) => {
        b.Resources.other = b.Resources.thing;
      },
      /2 Thing resources/,
    ],
    [
      "an unknown section",
      (b) => {
        b.Conditions = {};
      },
      /section Conditions/,
    ],
  ])("flags %s", (_, change, finding) => {
    expect(changed(change).join("\n")).toMatch(finding);
  });

  it("flags a body over IoT Core's size limit", () => {
    const body = good();
    body.DeviceConfiguration = { padding: "x".repeat(MAX_TEMPLATE_CHARACTERS) };
    expect(lint(body)).toContain(`body exceeds IoT Core's ${MAX_TEMPLATE_CHARACTERS} characters`);
  });

  it("refuses to render what it flags", () => {
    const body = good();
    body.Resources.thing.Properties.ThingName = "fixed";
    expect(() => renderProvisioningTemplate(JSON.stringify(body), context)).toThrow(/not least-privilege/);
  });
});

describe("entryParameters", () => {
  it("takes batch and model from the allowlist entry; a device without a model still gets the attribute", () => {
    expect(entryParameters({ batchId: "lot-1" as BatchId, model: "m2" })).toEqual({
      BatchId: "lot-1",
      Model: "m2",
    });
    expect(entryParameters({ batchId: "lot-1" as BatchId })).toEqual({
      BatchId: "lot-1",
      Model: "unspecified",
    });
  });
});
