import type { SubjectField } from "./certificate-names.js";
import type { Device } from "./device.js";
import { ValidationError } from "./errors.js";

/**
 * IoT Core's provisioning templates (fleet provisioning and JITP), rendered from a file in
 * templates/ and linted like the device policy: within IoT's size limit, and shaped so that
 * whatever the device sends, it can only become the Thing of its own identity, with no policy of
 * its own, and a usable certificate only once fleetgate decided.
 */
export const MAX_TEMPLATE_CHARACTERS = 10_240;

/** The parameter the device names itself with; the hook checks it against the allowlist. */
export const DEVICE_ID_PARAMETER = "DeviceId";

/**
 * The parameters the hook sets from the allowlist entry, overriding whatever the device sent: a
 * device chooses its identity, never its batch or model.
 */
export const entryParameters = (device: Pick<Device, "batchId" | "model">): Record<string, string> => ({
  BatchId: device.batchId,
  // An attribute needs a value: IoT Core fails provisioning on a parameter left unresolved.
  Model: device.model ?? "unspecified",
});
const ENTRY_PARAMETERS = Object.keys(entryParameters({ batchId: "" as Device["batchId"] }));
const CERTIFICATE_ID = "AWS::IoT::Certificate::Id";

/** What a template of one kind must be: its identity parameter, its other parameters, where it leaves the device. */
export interface TemplateProfile {
  readonly type: "FLEET_PROVISIONING" | "JITP";
  /** The parameter the Thing is named by. */
  readonly identityParameter: string;
  /** The parameters it may declare besides; any other would be the device's choice. */
  readonly otherParameters: readonly string[];
  /**
   * Fleet provisioning: ACTIVE, the hook decided before IoT Core applies the template. JITP:
   * INACTIVE, no hook runs first, fleetgate activates after its checks.
   */
  readonly certificateStatus: "ACTIVE" | "INACTIVE";
  /** Fleet provisioning: the Thing joins the devices' group. JITP: fleetgate adds it after its checks. */
  readonly joinsGroup: boolean;
}

export const FLEET_PROVISIONING_PROFILE: TemplateProfile = {
  type: "FLEET_PROVISIONING",
  identityParameter: DEVICE_ID_PARAMETER,
  otherParameters: ENTRY_PARAMETERS,
  certificateStatus: "ACTIVE",
  joinsGroup: true,
};

// The parameters JITP fills from a certificate's subject, by the field they come from.
const JITP_SUBJECT_PARAMETERS: Readonly<Record<SubjectField, string>> = {
  CN: "AWS::IoT::Certificate::CommonName",
  serialNumber: "AWS::IoT::Certificate::SerialNumber",
  C: "AWS::IoT::Certificate::Country",
  ST: "AWS::IoT::Certificate::StateName",
  O: "AWS::IoT::Certificate::Organization",
  OU: "AWS::IoT::Certificate::OrganizationalUnit",
  dnQualifier: "AWS::IoT::Certificate::DistinguishedNameQualifier",
};

/** The JITP parameter holding the subject field devices are named by (DEVICE_ID_FIELD). */
export const jitpParameterOf = (field: string): string => {
  const parameter = JITP_SUBJECT_PARAMETERS[field as SubjectField];
  if (!parameter)
    throw new ValidationError(
      `device id field ${JSON.stringify(field)} is not one JITP reads: ${Object.keys(JITP_SUBJECT_PARAMETERS).join(", ")}`,
    );
  return parameter;
};

/**
 * JITP fills parameters from the certificate's subject only: the Thing is named by the subject
 * field the device id is read from (DEVICE_ID_FIELD), and the certificate's id is IoT Core's.
 */
export const jitpProfile = (deviceIdParameter: string): TemplateProfile => ({
  type: "JITP",
  identityParameter: deviceIdParameter,
  otherParameters: [CERTIFICATE_ID],
  certificateStatus: "INACTIVE",
  joinsGroup: false,
});

export interface TemplateContext {
  /** The devices' thing group: the device policy is attached to it, so joining it is all a Thing needs. */
  readonly thingGroupName: string;
  /** The devices' Thing type, when the deployment uses one; absent, the Thing gets none. */
  readonly thingTypeName?: string | undefined;
}

const NAME = /^[a-zA-Z0-9:_-]{1,128}$/;
const PLACEHOLDER = /\{\{(\w+)\}\}/g;

/**
 * Renders a provisioning template (JSON with `{{thingGroupName}}` and `{{thingTypeName}}`
 * placeholders) into the compact body IoT Core takes, and lints it. A `ThingTypeName` left empty
 * (no type configured) is dropped rather than sent empty.
 */
export const renderProvisioningTemplate = (
  template: string,
  context: TemplateContext,
  profile: TemplateProfile = FLEET_PROVISIONING_PROFILE,
): string => {
  const values: Record<string, string> = {
    thingGroupName: context.thingGroupName,
    thingTypeName: context.thingTypeName ?? "",
    identityParameter: profile.identityParameter,
  };
  if (!NAME.test(context.thingGroupName))
    throw new ValidationError(`thing group name ${JSON.stringify(context.thingGroupName)} is not valid`);
  if (context.thingTypeName !== undefined && !NAME.test(context.thingTypeName))
    throw new ValidationError(`thing type name ${JSON.stringify(context.thingTypeName)} is not valid`);
  const rendered = template.replace(PLACEHOLDER, (_, name: string) => {
    const value = values[name];
    if (value === undefined)
      throw new ValidationError(`provisioning template uses unknown placeholder {{${name}}}`);
    return value;
  });
  let body: unknown;
  try {
    body = JSON.parse(rendered, (key, value) =>
      key === "ThingTypeName" && value === "" ? undefined : value,
    );
  } catch {
    throw new ValidationError("provisioning template is not JSON");
  }
  const document = JSON.stringify(body);
  const findings = lintProvisioningTemplate(document, context, profile);
  if (findings.length > 0)
    throw new ValidationError("provisioning template is not least-privilege", findings);
  return document;
};

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const refTo = (value: unknown): string | undefined =>
  isObject(value) && Object.keys(value).length === 1 && typeof value.Ref === "string" ? value.Ref : undefined;

/**
 * What a provisioning template must be here, one line per finding (empty means clean): one Thing
 * named by the identity parameter, with no policy of its own, in the devices' group (fleet
 * provisioning) or in none yet (JITP); one certificate, the one IoT Core just made, ACTIVE (fleet
 * provisioning: the hook decided) or INACTIVE (JITP: fleetgate decides after); no other parameter
 * than the profile's, so nothing the device chooses reaches the registry but its identity.
 */
export const lintProvisioningTemplate = (
  body: string,
  context: TemplateContext,
  profile: TemplateProfile = FLEET_PROVISIONING_PROFILE,
): string[] => {
  const findings: string[] = [];
  if (body.length > MAX_TEMPLATE_CHARACTERS)
    findings.push(`body exceeds IoT Core's ${MAX_TEMPLATE_CHARACTERS} characters`);
  let template: unknown;
  try {
    template = JSON.parse(body);
  } catch {
    return [...findings, "body is not JSON"];
  }
  if (!isObject(template)) return [...findings, "body is not a JSON object"];
  for (const section of Object.keys(template))
    if (!["Parameters", "Resources", "DeviceConfiguration"].includes(section))
      findings.push(`section ${section} is not one this template may use`);

  const parameters = isObject(template.Parameters) ? template.Parameters : {};
  findings.push(...lintParameters(parameters, profile));
  const resources = isObject(template.Resources) ? Object.entries(template.Resources) : [];
  const ofType = (type: string) => resources.filter(([, r]) => isObject(r) && r.Type === type);
  for (const [name, resource] of resources) {
    const type = isObject(resource) ? resource.Type : undefined;
    if (type === "AWS::IoT::Policy")
      findings.push(`resource ${name}: a policy; the device policy is attached to the devices' group`);
    else if (type !== "AWS::IoT::Thing" && type !== "AWS::IoT::Certificate")
      findings.push(`resource ${name}: type ${JSON.stringify(type)} is not a Thing or a certificate`);
  }
  const things = ofType("AWS::IoT::Thing");
  const certificates = ofType("AWS::IoT::Certificate");
  if (things.length !== 1) findings.push(`${things.length} Thing resources; exactly one is needed`);
  if (certificates.length !== 1)
    findings.push(`${certificates.length} certificate resources; exactly one is needed`);
  for (const [name, thing] of things) findings.push(...lintThing(name, thing as Json, context, profile));
  for (const [name, certificate] of certificates) {
    const properties = isObject((certificate as Json).Properties)
      ? ((certificate as Json).Properties as Json)
      : {};
    if (refTo(properties.CertificateId) !== CERTIFICATE_ID)
      findings.push(
        `resource ${name}: CertificateId must be {"Ref": "${CERTIFICATE_ID}"}, the certificate just made`,
      );
    if (
      typeof properties.Status !== "string" ||
      properties.Status.toUpperCase() !== profile.certificateStatus
    )
      findings.push(
        profile.certificateStatus === "ACTIVE"
          ? `resource ${name}: Status must be ACTIVE (the hook decided before IoT Core applies the template)`
          : `resource ${name}: Status must be INACTIVE (no hook runs before JITP: fleetgate activates after its checks)`,
      );
  }
  for (const name of referencedParameters(template.Resources))
    if (name !== CERTIFICATE_ID && !(name in parameters))
      findings.push(`parameter ${name} is referenced but not declared`);
  return findings;
};

const lintParameters = (parameters: Json, profile: TemplateProfile): string[] => {
  const findings: string[] = [];
  const identity = parameters[profile.identityParameter];
  if (!isObject(identity)) findings.push(`parameter ${profile.identityParameter} is not declared`);
  else if ("Default" in identity)
    findings.push(`parameter ${profile.identityParameter} has a default: a device must name itself`);
  for (const [name, spec] of Object.entries(parameters)) {
    if (!isObject(spec) || spec.Type !== "String") findings.push(`parameter ${name} is not of Type String`);
    if (name !== profile.identityParameter && !profile.otherParameters.includes(name))
      findings.push(
        profile.type === "FLEET_PROVISIONING"
          ? `parameter ${name} would be the device's choice: only ${profile.identityParameter} is, the hook sets ${profile.otherParameters.join(", ")}`
          : `parameter ${name} would be read from the certificate: only ${profile.identityParameter} names the device, ${profile.otherParameters.join(", ")} is IoT Core's`,
      );
  }
  return findings;
};

const lintThing = (
  name: string,
  thing: Json,
  context: TemplateContext,
  profile: TemplateProfile,
): string[] => {
  const findings: string[] = [];
  const properties = isObject(thing.Properties) ? thing.Properties : {};
  if (refTo(properties.ThingName) !== profile.identityParameter)
    findings.push(
      `resource ${name}: ThingName must be {"Ref": "${profile.identityParameter}"}, the identity fleetgate checks`,
    );
  const groups = properties.ThingGroups;
  if (profile.joinsGroup) {
    if (!Array.isArray(groups) || groups.length !== 1 || groups[0] !== context.thingGroupName)
      findings.push(
        `resource ${name}: ThingGroups must be exactly ["${context.thingGroupName}"], the devices' group`,
      );
  } else if (groups !== undefined)
    findings.push(
      `resource ${name}: ThingGroups must be absent: the Thing joins the devices' group (and its policy) after fleetgate's checks`,
    );
  if ((properties.ThingTypeName ?? undefined) !== context.thingTypeName)
    findings.push(
      `resource ${name}: ThingTypeName must be the deployment's Thing type (${context.thingTypeName ?? "none"})`,
    );
  const attributes = properties.AttributePayload;
  if (attributes !== undefined && !isObject(attributes))
    findings.push(`resource ${name}: AttributePayload must be an object of attributes`);
  for (const [attribute, value] of Object.entries(isObject(attributes) ? attributes : {}))
    if (typeof value !== "string" && refTo(value) === undefined)
      findings.push(`resource ${name}: attribute ${attribute} must be a string or a parameter's Ref`);
  return findings;
};

/** Every parameter a Ref names, anywhere below `value`. */
const referencedParameters = (value: unknown): string[] => {
  if (Array.isArray(value)) return value.flatMap(referencedParameters);
  if (!isObject(value)) return [];
  const ref = refTo(value);
  if (ref !== undefined) return [ref];
  return Object.values(value).flatMap(referencedParameters);
};
