import { inspectCertificate } from "#domain/certificate.js";
import { checkCaForRegistration } from "#domain/certificate-checks.js";
import { NotFoundError, ValidationError } from "#domain/errors.js";
import type { CaCertificateId } from "#domain/ids.js";
import { describeRefusal } from "#domain/refusal.js";
import type { CaRegistry, CaSummary, Clock } from "./ports.js";

export interface OnboardCaDeps {
  readonly cas: CaRegistry;
  readonly clock: Clock;
}

/** Signs the verification certificate of DEFAULT mode: its common name is IoT Core's registration code. */
export type VerificationSigner = (registrationCode: string) => Promise<string>;

export interface CaOnboarding {
  readonly caPem: string;
  /** DEFAULT mode (the CA lives in this account only) proves possession of the CA key; absent: SNI_ONLY. */
  readonly sign?: VerificationSigner;
  /** The deployment's JITP template: IoT Core provisions the CA's devices from it. */
  readonly jitpTemplateName?: string;
}

/**
 * Registers a CA for its devices' first connections: refused when it is not a CA, not valid now
 * or weak; registered ACTIVE with auto-registration on; in DEFAULT mode possession of its key is
 * proven with a verification certificate signed where the key is (it never leaves there).
 * Registering a CA again changes nothing and answers how it is: an INACTIVE one stays so.
 */
export const onboardCa = async (
  deps: OnboardCaDeps,
  request: CaOnboarding,
): Promise<CaView & { readonly thingEventsTurnedOn?: boolean }> => {
  const inspection = inspectCertificate(request.caPem);
  if (!inspection.ok) throw new ValidationError(`not a certificate: ${inspection.error}`);
  const verdict = checkCaForRegistration(inspection.certificate, deps.clock.now());
  if (!verdict.ok) throw new ValidationError(`CA refused: ${describeRefusal(verdict.refusal)}`);
  const verificationPem = request.sign ? await request.sign(await deps.cas.getRegistrationCode()) : undefined;
  const caCertificateId = await deps.cas.registerCa({
    caPem: request.caPem,
    ...(verificationPem ? { verificationPem } : {}),
    ...(request.jitpTemplateName ? { jitpTemplateName: request.jitpTemplateName } : {}),
  });
  const view = await showCa(deps, caCertificateId);
  // JITP's Thing-created event reaches fleetgate only with the registry's Thing events on.
  return request.jitpTemplateName
    ? { ...view, thingEventsTurnedOn: await deps.cas.enableThingEvents() }
    : view;
};

export interface CaView extends CaSummary {
  readonly subject?: string;
  readonly notAfter?: string;
  /** Why the CA needs attention: it expires soon, is no longer fit, or its certificate does not parse. */
  readonly warnings: readonly string[];
}

/** A CA as IoT Core holds it, with its subject and expiry read from its certificate. */
export const showCa = async (
  deps: Pick<OnboardCaDeps, "cas" | "clock">,
  caCertificateId: CaCertificateId,
): Promise<CaView> => {
  const { pem, ...summary } = await deps.cas.describeCa(caCertificateId);
  const inspection = inspectCertificate(pem);
  if (!inspection.ok)
    return { ...summary, warnings: [`its certificate does not parse: ${inspection.error}`] };
  const { facts } = inspection.certificate;
  const verdict = checkCaForRegistration(inspection.certificate, deps.clock.now());
  return {
    ...summary,
    subject: facts.subject,
    notAfter: facts.notAfter.toISOString(),
    warnings: verdict.ok ? verdict.warnings : [describeRefusal(verdict.refusal)],
  };
};

/** The account's CAs, each as showCa sees it. */
export const listCas = async (deps: Pick<OnboardCaDeps, "cas" | "clock">): Promise<CaView[]> => {
  const views: CaView[] = [];
  // One at a time: DescribeCACertificate's quota is 10 per second for the whole account.
  for (const id of await deps.cas.listCaIds()) views.push(await showCa(deps, id));
  return views;
};

/**
 * Takes a CA out of service (a compromised CA, or a pause), or back: INACTIVE with auto-registration
 * off, so IoT Core registers no new certificate of it and fleetgate lets its waiting devices wait;
 * or ACTIVE with it on. Its devices' certificates keep working until they are revoked: recallCa
 * does that.
 */
export const setCaInService = async (
  deps: Pick<OnboardCaDeps, "cas">,
  caCertificateId: CaCertificateId,
  active: boolean,
): Promise<void> => {
  try {
    await deps.cas.setCaActive(caCertificateId, active);
  } catch (error) {
    if (error instanceof NotFoundError) throw new NotFoundError(`CA ${caCertificateId} is not registered`);
    throw error;
  }
};
