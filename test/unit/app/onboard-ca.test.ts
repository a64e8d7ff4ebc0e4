import { describe, expect, it } from "vitest";
import { listCas, onboardCa, setCaInService, showCa } from "#app/onboard-ca.js";
import { certificateIdOf } from "#domain/certificate-names.js";
import { ValidationError } from "#domain/errors.js";
import type { CaCertificateId } from "#domain/ids.js";
import { createCa } from "#local/dev-pki.js";
import { fakeCaRegistry } from "#test/support/fake-ca-registry.js";

const DAY = 86_400_000;
const clock = { now: () => new Date() };

describe("onboarding a CA", () => {
  it("in DEFAULT mode signs a verification certificate for the account's registration code and registers the CA ACTIVE with auto-registration", async () => {
    const ca = await createCa({ name: "Onboard Default CA" });
    const { registry } = fakeCaRegistry();
    const signed: string[] = [];
    const view = await onboardCa(
      { cas: registry, clock },
      {
        caPem: ca.pem,
        sign: async (code) => {
          signed.push(code);
          return "verification-pem";
        },
      },
    );
    expect(signed).toEqual(["f00dcafe".repeat(8)]);
    expect(view).toMatchObject({
      caCertificateId: certificateIdOf(ca.pem),
      status: "ACTIVE",
      autoRegistration: "ENABLE",
      mode: "DEFAULT",
      subject: expect.stringContaining("Onboard Default CA"),
      warnings: [],
    });
  });

  it("in SNI_ONLY mode asks for no registration code", async () => {
    const { registry, calls } = fakeCaRegistry();
    const view = await onboardCa({ cas: registry, clock }, { caPem: (await createCa()).pem });
    expect(view.mode).toBe("SNI_ONLY");
    expect(calls).toEqual(["RegisterCACertificate"]);
  });

  it("with JITP names the template and turns the registry's Thing events on, saying whether they were off", async () => {
    const { registry } = fakeCaRegistry();
    const first = await onboardCa(
      { cas: registry, clock },
      { caPem: (await createCa()).pem, jitpTemplateName: "fleetgate-dev-jitp" },
    );
    expect(first).toMatchObject({ jitpTemplate: "fleetgate-dev-jitp", thingEventsTurnedOn: true });
    const second = await onboardCa(
      { cas: registry, clock },
      { caPem: (await createCa()).pem, jitpTemplateName: "fleetgate-dev-jitp" },
    );
    expect(second.thingEventsTurnedOn).toBe(false);
  });

  it("without JITP leaves the registry's event configuration alone", async () => {
    const { registry, calls } = fakeCaRegistry();
    const view = await onboardCa({ cas: registry, clock }, { caPem: (await createCa()).pem });
    expect(view).not.toHaveProperty("thingEventsTurnedOn");
    expect(calls).not.toContain("UpdateEventConfigurations");
  });

  it("refuses a certificate that is not a CA before any call to IoT Core", async () => {
    const { registry, calls } = fakeCaRegistry();
    const notCa = await createCa({ basicConstraints: { ca: false } });
    await expect(onboardCa({ cas: registry, clock }, { caPem: notCa.pem })).rejects.toThrow(
      /CA refused: .*CA:TRUE/,
    );
    expect(calls).toEqual([]);
  });

  it("refuses text that is not a certificate", async () => {
    const { registry } = fakeCaRegistry();
    await expect(onboardCa({ cas: registry, clock }, { caPem: "hello" })).rejects.toBeInstanceOf(
      ValidationError,
    );
  });

  it("answers a CA registered before as it is: deactivated stays INACTIVE", async () => {
    const { registry } = fakeCaRegistry();
    const caPem = (await createCa()).pem;
    const first = await onboardCa({ cas: registry, clock }, { caPem });
    await setCaInService({ cas: registry }, first.caCertificateId, false);
    const again = await onboardCa({ cas: registry, clock }, { caPem });
    expect(again).toMatchObject({ caCertificateId: first.caCertificateId, status: "INACTIVE" });
  });

  it("warns about a CA that expires within 90 days, at registration and when shown", async () => {
    const { registry } = fakeCaRegistry();
    const ca = await createCa({ notAfter: new Date(Date.now() + 10 * DAY) });
    const view = await onboardCa({ cas: registry, clock }, { caPem: ca.pem });
    expect(view.warnings).toEqual([expect.stringMatching(/expires in \d days/)]);
    expect((await showCa({ cas: registry, clock }, view.caCertificateId)).warnings).toEqual(view.warnings);
  });
});

describe("CAs in and out of service", () => {
  it("lists every CA with its status and expiry", async () => {
    const { registry } = fakeCaRegistry();
    const a = await onboardCa({ cas: registry, clock }, { caPem: (await createCa({ name: "List A" })).pem });
    const b = await onboardCa({ cas: registry, clock }, { caPem: (await createCa({ name: "List B" })).pem });
    await setCaInService({ cas: registry }, b.caCertificateId, false);
    const listed = await listCas({ cas: registry, clock });
    expect(
      listed.map(({ caCertificateId, status, notAfter }) => ({ caCertificateId, status, notAfter })),
    ).toEqual([
      { caCertificateId: a.caCertificateId, status: "ACTIVE", notAfter: a.notAfter },
      { caCertificateId: b.caCertificateId, status: "INACTIVE", notAfter: b.notAfter },
    ]);
  });

  it("deactivating turns auto-registration off; activating turns it back on", async () => {
    const { registry } = fakeCaRegistry();
    const { caCertificateId } = await onboardCa({ cas: registry, clock }, { caPem: (await createCa()).pem });
    await setCaInService({ cas: registry }, caCertificateId, false);
    expect(await showCa({ cas: registry, clock }, caCertificateId)).toMatchObject({
      status: "INACTIVE",
      autoRegistration: "DISABLE",
    });
    await setCaInService({ cas: registry }, caCertificateId, true);
    expect(await showCa({ cas: registry, clock }, caCertificateId)).toMatchObject({
      status: "ACTIVE",
      autoRegistration: "ENABLE",
    });
  });

  it("deactivating a CA that is not registered says so", async () => {
    const { registry } = fakeCaRegistry();
    await expect(
      setCaInService({ cas: registry }, "ab".repeat(32) as CaCertificateId, false),
    ).rejects.toThrow(/^CA (ab){32} is not registered$/);
  });
});
