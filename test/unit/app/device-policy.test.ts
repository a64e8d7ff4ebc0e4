import { describe, expect, it } from "vitest";
import { ensureDevicePolicy, removeDevicePolicy } from "#app/device-policy.js";
import type { PolicyRegistry } from "#app/ports.js";
import { DependencyRejectedError, ValidationError } from "#domain/errors.js";
import devicePolicyTemplate from "../../../templates/device-policy.json" with { type: "json" };

const GROUP = "arn:aws:iot:eu-west-1:123456789012:thinggroup/fleetgate-devices";
const TEMPLATE = JSON.stringify(devicePolicyTemplate);

/** Policies in memory: name -> default document and the targets it is attached to. */
const memoryPolicies = () => {
  const documents = new Map<string, string[]>();
  const targets = new Map<string, Set<string>>();
  const registry: PolicyRegistry & { calls: string[]; attachedElsewhere: boolean } = {
    calls: [],
    attachedElsewhere: false,
    async getPolicyDocument(name) {
      return documents.get(name)?.at(-1);
    },
    async createPolicy(name, document) {
      this.calls.push("createPolicy");
      documents.set(name, [document]);
    },
    async replacePolicyDocument(name, document) {
      this.calls.push("replacePolicyDocument");
      documents.get(name)?.push(document);
    },
    async attachPolicy(name, target) {
      targets.set(name, (targets.get(name) ?? new Set()).add(target));
    },
    async detachPolicy(name, target) {
      targets.get(name)?.delete(target);
    },
    async deletePolicy(name) {
      if (this.attachedElsewhere) throw new DependencyRejectedError("DeleteConflictException");
      documents.delete(name);
    },
  };
  return { registry, documents, targets };
};

const settings = {
  policyName: "fleetgate-device",
  thingGroupArn: GROUP,
  template: TEMPLATE,
  topicPrefix: "devices",
};

describe("ensureDevicePolicy", () => {
  it("creates the policy rendered for the group's account and region and attaches it to the group", async () => {
    const { registry, documents, targets } = memoryPolicies();

    expect(await ensureDevicePolicy(registry, settings)).toBe("created");

    const document = documents.get("fleetgate-device")?.[0] ?? "";
    expect(document).toContain("arn:aws:iot:eu-west-1:123456789012:client/${iot:Connection.Thing.ThingName}");
    expect(document).toContain("topic/devices/${iot:Connection.Thing.ThingName}/*");
    expect(targets.get("fleetgate-device")).toEqual(new Set([GROUP]));
  });

  it("changes nothing when the policy already says the same, however it is spaced", async () => {
    const { registry, documents } = memoryPolicies();
    await ensureDevicePolicy(registry, settings);
    const first = documents.get("fleetgate-device")?.[0] ?? "";
    documents.set("fleetgate-device", [JSON.stringify(JSON.parse(first), null, 2)]);

    expect(await ensureDevicePolicy(registry, settings)).toBe("unchanged");
    expect(registry.calls).toEqual(["createPolicy"]);
  });

  it("makes a changed template the policy's new default version", async () => {
    const { registry, documents } = memoryPolicies();
    await ensureDevicePolicy(registry, settings);

    expect(await ensureDevicePolicy(registry, { ...settings, topicPrefix: "fleet/sensors" })).toBe("updated");
    expect(documents.get("fleetgate-device")?.at(-1)).toContain(
      "topic/fleet/sensors/${iot:Connection.Thing.ThingName}/*",
    );
  });

  it("refuses a template the least-privilege linter rejects, creating nothing", async () => {
    const { registry, documents } = memoryPolicies();
    const open = TEMPLATE.replace("client/${iot:Connection.Thing.ThingName}", "client/*");
    await expect(ensureDevicePolicy(registry, { ...settings, template: open })).rejects.toThrow(
      ValidationError,
    );
    expect(documents.size).toBe(0);
  });
});

describe("removeDevicePolicy", () => {
  it("detaches the policy from the group and deletes it", async () => {
    const { registry, documents, targets } = memoryPolicies();
    await ensureDevicePolicy(registry, settings);

    expect(await removeDevicePolicy(registry, settings)).toBe("deleted");
    expect(targets.get("fleetgate-device")?.size).toBe(0);
    expect(documents.has("fleetgate-device")).toBe(false);
  });

  it("keeps a policy IoT Core will not delete (attached elsewhere), so the stack can still be removed", async () => {
    const { registry } = memoryPolicies();
    await ensureDevicePolicy(registry, settings);
    registry.attachedElsewhere = true;
    expect(await removeDevicePolicy(registry, settings)).toBe("kept");
  });
});
