import type { CaRegistration, CaRegistry, CaSummary } from "#app/ports.js";
import { certificateIdOf } from "#domain/certificate-names.js";
import { NotFoundError } from "#domain/errors.js";
import type { CaCertificateId } from "#domain/ids.js";

/** IoT Core's CA registry as these use cases see it: registering again answers the same id. */
export const fakeCaRegistry = () => {
  const cas = new Map<string, CaSummary & { pem: string }>();
  const calls: string[] = [];
  const thingEvents = { on: false };
  const registry: CaRegistry = {
    async getRegistrationCode() {
      calls.push("GetRegistrationCode");
      return "f00dcafe".repeat(8);
    },
    async registerCa(registration: CaRegistration) {
      calls.push("RegisterCACertificate");
      const id = certificateIdOf(registration.caPem) as string as CaCertificateId;
      if (!cas.has(id))
        cas.set(id, {
          caCertificateId: id,
          status: "ACTIVE",
          autoRegistration: "ENABLE",
          mode: registration.verificationPem ? "DEFAULT" : "SNI_ONLY",
          ...(registration.jitpTemplateName ? { jitpTemplate: registration.jitpTemplateName } : {}),
          pem: registration.caPem,
        });
      return id;
    },
    async describeCa(id) {
      const ca = cas.get(id);
      if (!ca) throw new NotFoundError(`no CA ${id}`);
      return ca;
    },
    async listCaIds() {
      return [...cas.keys()] as CaCertificateId[];
    },
    async enableThingEvents() {
      calls.push("UpdateEventConfigurations");
      const wasOn = thingEvents.on;
      thingEvents.on = true;
      return !wasOn;
    },
    async setCaActive(id, active) {
      const ca = cas.get(id);
      if (!ca) throw new NotFoundError(`no CA ${id}`);
      cas.set(id, {
        ...ca,
        status: active ? "ACTIVE" : "INACTIVE",
        autoRegistration: active ? "ENABLE" : "DISABLE",
      });
    },
  };
  return { registry, calls, cas, thingEvents };
};
