import {
  DescribeCACertificateCommand,
  DescribeEventConfigurationsCommand,
  GetRegistrationCodeCommand,
  type IoTClient,
  ListCACertificatesCommand,
  RegisterCACertificateCommand,
  UpdateCACertificateCommand,
  UpdateEventConfigurationsCommand,
} from "@aws-sdk/client-iot";
import type { CaRegistry } from "#app/ports.js";
import { certificateIdOf } from "#domain/certificate-names.js";
import { AlreadyExistsError, DependencyUnavailableError } from "#domain/errors.js";
import type { CaCertificateId } from "#domain/ids.js";
import { call } from "./aws-errors.js";

/** IoT Core's CA registry over client-iot, for onboarding and retiring CAs. */
export const iotCas = (iot: IoTClient): CaRegistry => {
  const describeCa: CaRegistry["describeCa"] = async (caCertificateId) => {
    const out = await call("DescribeCACertificate", () =>
      iot.send(new DescribeCACertificateCommand({ certificateId: caCertificateId })),
    );
    const description = out.certificateDescription;
    if (!description?.certificatePem)
      throw new DependencyUnavailableError(`DescribeCACertificate ${caCertificateId}: incomplete answer`);
    return {
      caCertificateId,
      status: description.status === "ACTIVE" ? "ACTIVE" : "INACTIVE",
      autoRegistration: description.autoRegistrationStatus === "ENABLE" ? "ENABLE" : "DISABLE",
      mode: description.certificateMode === "SNI_ONLY" ? "SNI_ONLY" : "DEFAULT",
      ...(description.creationDate ? { createdAt: description.creationDate.toISOString() } : {}),
      ...jitpTemplateOf(out.registrationConfig),
      pem: description.certificatePem,
    };
  };
  return {
    async getRegistrationCode() {
      const out = await call("GetRegistrationCode", () => iot.send(new GetRegistrationCodeCommand({})));
      if (!out.registrationCode) throw new DependencyUnavailableError("GetRegistrationCode returned no code");
      return out.registrationCode;
    },

    async registerCa({ caPem, verificationPem, jitpTemplateName }) {
      try {
        const out = await call("RegisterCACertificate", () =>
          iot.send(
            new RegisterCACertificateCommand({
              caCertificate: caPem,
              ...(verificationPem
                ? { verificationCertificate: verificationPem, certificateMode: "DEFAULT" }
                : { certificateMode: "SNI_ONLY" }),
              setAsActive: true,
              allowAutoRegistration: true,
              ...(jitpTemplateName ? { registrationConfig: { templateName: jitpTemplateName } } : {}),
            }),
          ),
        );
        if (!out.certificateId) throw new DependencyUnavailableError("RegisterCACertificate returned no id");
        return out.certificateId as CaCertificateId;
      } catch (error) {
        if (!(error instanceof AlreadyExistsError)) throw error;
        // Registered before: its id is the SHA-256 of its DER encoding, as for any certificate.
        return certificateIdOf(caPem) as string as CaCertificateId;
      }
    },

    describeCa,

    async listCaIds() {
      const ids: CaCertificateId[] = [];
      let marker: string | undefined;
      do {
        const out = await call("ListCACertificates", () =>
          iot.send(new ListCACertificatesCommand({ pageSize: 250, ...(marker ? { marker } : {}) })),
        );
        for (const ca of out.certificates ?? [])
          if (ca.certificateId) ids.push(ca.certificateId as CaCertificateId);
        marker = out.nextMarker;
      } while (marker);
      return ids;
    },

    async enableThingEvents() {
      const out = await call("DescribeEventConfigurations", () =>
        iot.send(new DescribeEventConfigurationsCommand({})),
      );
      if (out.eventConfigurations?.THING?.Enabled) return false;
      await call("UpdateEventConfigurations", () =>
        iot.send(new UpdateEventConfigurationsCommand({ eventConfigurations: { THING: { Enabled: true } } })),
      );
      return true;
    },

    async setCaActive(caCertificateId, active) {
      await call("UpdateCACertificate", () =>
        iot.send(
          new UpdateCACertificateCommand({
            certificateId: caCertificateId,
            newStatus: active ? "ACTIVE" : "INACTIVE",
            newAutoRegistrationStatus: active ? "ENABLE" : "DISABLE",
          }),
        ),
      );
    },
  };
};

/** The JITP template a CA's registrationConfig names: by name, or `inline` for a template body. */
export const jitpTemplateOf = (config: { templateName?: string; templateBody?: string } | undefined) => {
  if (config?.templateName) return { jitpTemplate: config.templateName };
  return config?.templateBody ? { jitpTemplate: "inline" } : {};
};
