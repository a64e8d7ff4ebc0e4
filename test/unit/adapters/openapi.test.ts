import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { batchRoutes } from "#adapters/http/batch-routes.js";
import { maintenanceRoutes } from "#adapters/http/maintenance-routes.js";
import { operationsRoutes } from "#adapters/http/operations-routes.js";
import { replacementRoutes } from "#adapters/http/replacement-routes.js";
import { type RotationApiDeps, rotationRoutes } from "#adapters/http/rotation-routes.js";
import { DEVICE_EVENT_TYPES } from "#domain/device.js";
import { DEVICE_STATES } from "#domain/lifecycle.js";
import { FakeInventory } from "#test/support/fake-inventory.js";
import { FakeRegistry } from "#test/support/fake-registry.js";
import { InMemoryLifecycleStore } from "#test/support/in-memory-store.js";

/** openapi.yaml is the public contract: it must describe exactly what the handler serves. */
const document = parse(readFileSync(new URL("../../../openapi.yaml", import.meta.url), "utf8")) as {
  paths: Record<
    string,
    Record<
      string,
      { parameters?: { name?: string; in?: string; $ref?: string }[]; responses: Record<string, unknown> }
    >
  >;
  components: {
    schemas: Record<string, { enum?: string[]; properties?: Record<string, { enum?: string[] }> }>;
  };
};

const store = new InMemoryLifecycleStore();
const clock = { now: () => new Date() };
const routes = [
  ...operationsRoutes({
    registry: new FakeRegistry(),
    connections: { disconnect: async () => "not-connected" },
    store,
    clock,
  }),
  ...batchRoutes({
    store,
    clock,
    manifestRules: { maxThingAttributes: 3, deviceIdField: "CN" },
    caRegistry: new FakeRegistry(),
    queue: { enqueue: async () => undefined },
    uploadTicket: async () => ({}),
  }),
  ...maintenanceRoutes({
    inventory: new FakeInventory(new FakeRegistry()),
    store,
    clock,
    thingGroupName: "devices",
  }),
  ...replacementRoutes({ store, clock, approvalLimits: { defaultMs: 1, maxMs: 1 } }),
  // Listed, not called: no dependency is reached.
  ...rotationRoutes({} as RotationApiDeps),
];

describe("openapi.yaml", () => {
  it("documents every route the handler serves, and no other", () => {
    const documented = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual(routes.map((route) => `${route.method} ${route.path}`).sort());
  });

  it("declares the path parameter of every templated path", () => {
    for (const [path, methods] of Object.entries(document.paths)) {
      for (const operation of Object.values(methods)) {
        const declared = (operation.parameters ?? []).map(
          (p) =>
            p.name ??
            p.$ref
              ?.split("/")
              .at(-1)
              ?.replace(/^./, (c) => c.toLowerCase()),
        );
        for (const [, name] of path.matchAll(/\{(\w+)\}/g)) expect(declared, path).toContain(name);
      }
    }
  });

  it("lists the same device states and event types as the domain", () => {
    expect(document.components.schemas.DeviceState?.enum).toEqual([...DEVICE_STATES]);
    expect(document.components.schemas.DeviceEvent?.properties?.type?.enum).toEqual([...DEVICE_EVENT_TYPES]);
  });

  it("documents the problem answers of every device action: 400, 404, 409", () => {
    for (const [path, methods] of Object.entries(document.paths)) {
      const post = path.startsWith("/devices/") ? methods.post : undefined;
      if (post)
        expect(Object.keys(post.responses), path).toEqual(
          expect.arrayContaining(["200", "400", "404", "409"]),
        );
    }
  });
});
