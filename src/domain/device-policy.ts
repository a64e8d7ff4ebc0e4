import { ValidationError } from "./errors.js";

/** Values substituted into `{{name}}` placeholders of a policy template. */
export interface PolicyContext {
  readonly region: string;
  readonly accountId: string;
  readonly topicPrefix: string;
}

const CONTEXT_RULES: Record<keyof PolicyContext, RegExp> = {
  region: /^[a-z]{2}(-[a-z]+)+-\d$/,
  accountId: /^\d{12}$/,
  // A topic level or two, never a wildcard: the prefix must not widen the policy.
  topicPrefix: /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/,
};

const PLACEHOLDER = /\{\{(\w+)\}\}/g;
// IoT Core's limit for a policy document, counted without white space.
export const MAX_POLICY_CHARACTERS = 2048;

/**
 * Renders a policy template (JSON with `{{name}}` placeholders; IoT policy variables such as
 * `${iot:Connection.Thing.ThingName}` pass through untouched) and lints the result.
 */
export const renderDevicePolicy = (template: string, context: PolicyContext): string => {
  for (const [name, rule] of Object.entries(CONTEXT_RULES)) {
    const value = context[name as keyof PolicyContext];
    if (!rule.test(value)) throw new ValidationError(`policy ${name} ${JSON.stringify(value)} is not valid`);
  }
  const rendered = template.replace(PLACEHOLDER, (_, name: string) => {
    if (!(name in CONTEXT_RULES))
      throw new ValidationError(`policy template uses unknown placeholder {{${name}}}`);
    return context[name as keyof PolicyContext];
  });
  const document = JSON.stringify(JSON.parse(rendered));
  const findings = lintDevicePolicy(document);
  if (findings.length > 0) throw new ValidationError("device policy is not least-privilege", findings);
  return document;
};

interface Statement {
  Effect?: string;
  Action?: string | string[];
  Resource?: string | string[];
  Condition?: Record<string, Record<string, unknown>>;
}

const THING = "${iot:Connection.Thing.ThingName}";
const list = (value: string | string[] | undefined): string[] => (value === undefined ? [] : [value].flat());

/**
 * Flags what AWS IoT Device Defender's IOT_POLICY_OVERLY_PERMISSIVE_CHECK and our own rules
 * forbid in a device policy. Returns one line per finding; empty means clean.
 */
export const lintDevicePolicy = (document: string): string[] => {
  const findings: string[] = [];
  if (document.replace(/\s/g, "").length > MAX_POLICY_CHARACTERS) {
    findings.push(`document exceeds ${MAX_POLICY_CHARACTERS} characters without white space`);
  }
  let statements: Statement[];
  try {
    const statement = (JSON.parse(document) as { Statement?: Statement | Statement[] }).Statement;
    statements = statement === undefined ? [] : [statement].flat();
  } catch {
    return ["document is not JSON"];
  }
  for (const [index, statement] of statements.entries()) {
    if (statement.Effect !== "Allow") continue;
    const where = `statement ${index + 1}`;
    const actions = list(statement.Action);
    const resources = list(statement.Resource);
    if (actions.some((action) => action.includes("*"))) findings.push(`${where}: wildcard action`);
    // Every resource names the connecting thing: that is what keeps one device out of another's topics.
    for (const resource of resources) {
      if (!resource.includes(THING))
        findings.push(`${where}: resource ${resource} is not scoped to the connecting thing`);
    }
    if (actions.includes("iot:Connect")) {
      const attached = statement.Condition?.Bool?.["iot:Connection.Thing.IsAttached"];
      if (String(attached) !== "true")
        findings.push(`${where}: iot:Connect without the IsAttached condition`);
    }
  }
  return findings;
};
