import type { Device } from "./device.js";
import { ValidationError } from "./errors.js";

/**
 * IoT Core's provisioning templates (fleet provisioning), rendered from a file in templates/ and
 * linted like the device policy: within IoT's size limit, and shaped so that whatever the device
 * sends, it can only become the Thing of the identity the hook allowed, in the devices' group
 * (which holds the one device policy), with attributes from its allowlist entry.
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

export interface TemplateContext {
  /** The devices' thing group: the device policy is attached to it, so joining it is all a Thing needs. */
  readonly thingGroupName: string;
  /** The devices' Thing type, when the deployment uses one; absent, the Thing gets none. */
  readonly thingTypeName?: string | undefined;
}

const NAME = /^[a-zA-Z0-9:_-]{1,128}$/;
const PLACEHOLDER = /\{\{(\w+)\}\}/g;
const CERTIFICATE_ID = "AWS::IoT::Certificate::Id";

/**
 * Renders a provisioning template (JSON with `{{thingGroupName}}` and `{{thingTypeName}}`
 * placeholders) into the compact body IoT Core takes, and lints it. A `ThingTypeName` left empty
 * (no type configured) is dropped rather than sent empty.
 */
export const renderProvisioningTemplate = (template: string, context: TemplateContext): string => {
  const values: Record<string, string> = {
    thingGroupName: context.thingGroupName,
    thingTypeName: context.thingTypeName ?? "",
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
  const findings = lintProvisioningTemplate(document, context);
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
 * What a fleet provisioning template must be here, one line per finding (empty means clean): one
 * Thing named by the device id parameter, in the devices' group and no other, with no policy of its
 * own; one certificate, the one IoT Core just made, set ACTIVE; every other parameter one the hook
 * sets from the allowlist entry, so nothing the device chooses reaches the registry but its id.
 */
export const lintProvisioningTemplate = (body: string, context: TemplateContext): string[] => {
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
  findings.push(...lintParameters(parameters));
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
  for (const [name, thing] of things) findings.push(...lintThing(name, thing as Json, context));
  for (const [name, certificate] of certificates) {
    const properties = isObject((certificate as Json).Properties)
      ? ((certificate as Json).Properties as Json)
      : {};
    if (refTo(properties.CertificateId) !== CERTIFICATE_ID)
      findings.push(
        `resource ${name}: CertificateId must be {"Ref": "${CERTIFICATE_ID}"}, the certificate just made`,
      );
    if (typeof properties.Status !== "string" || properties.Status.toUpperCase() !== "ACTIVE")
      findings.push(
        `resource ${name}: Status must be ACTIVE (the hook decided before IoT Core applies the template)`,
      );
  }
  for (const name of referencedParameters(template.Resources))
    if (name !== CERTIFICATE_ID && !(name in parameters))
      findings.push(`parameter ${name} is referenced but not declared`);
  return findings;
};

const lintParameters = (parameters: Json): string[] => {
  const findings: string[] = [];
  const deviceId = parameters[DEVICE_ID_PARAMETER];
  if (!isObject(deviceId)) findings.push(`parameter ${DEVICE_ID_PARAMETER} is not declared`);
  else if ("Default" in deviceId)
    findings.push(`parameter ${DEVICE_ID_PARAMETER} has a default: a device must name itself`);
  for (const [name, spec] of Object.entries(parameters)) {
    if (!isObject(spec) || spec.Type !== "String") findings.push(`parameter ${name} is not of Type String`);
    if (name !== DEVICE_ID_PARAMETER && !ENTRY_PARAMETERS.includes(name))
      findings.push(
        `parameter ${name} would be the device's choice: only ${DEVICE_ID_PARAMETER} is, the hook sets ${ENTRY_PARAMETERS.join(", ")}`,
      );
  }
  return findings;
};

const lintThing = (name: string, thing: Json, context: TemplateContext): string[] => {
  const findings: string[] = [];
  const properties = isObject(thing.Properties) ? thing.Properties : {};
  if (refTo(properties.ThingName) !== DEVICE_ID_PARAMETER)
    findings.push(
      `resource ${name}: ThingName must be {"Ref": "${DEVICE_ID_PARAMETER}"}, the identity the hook checked`,
    );
  const groups = properties.ThingGroups;
  if (!Array.isArray(groups) || groups.length !== 1 || groups[0] !== context.thingGroupName)
    findings.push(
      `resource ${name}: ThingGroups must be exactly ["${context.thingGroupName}"], the devices' group`,
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
