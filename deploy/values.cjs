// Values serverless.yml computes at packaging time.
const { createHash } = require("node:crypto");
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

// The device policy resource is updated when its template changes, not only when its properties do.
module.exports.devicePolicyTemplateSha256 = () =>
  createHash("sha256")
    .update(readFileSync(join(__dirname, "..", "templates", "device-policy.json")))
    .digest("hex");

// The provisioning templates are rendered and linted by the same code the tests hold to account
// (src/domain/provisioning-template.ts), bundled here once: a template that is not least-privilege
// fails the packaging.
let templates;
const templateModule = () => {
  if (!templates) {
    const { outputFiles } = require("esbuild").buildSync({
      entryPoints: [join(__dirname, "..", "src", "domain", "provisioning-template.ts")],
      bundle: true,
      format: "cjs",
      platform: "node",
      write: false,
    });
    const module = { exports: {} };
    new Function("module", "exports", "require", outputFiles[0].text)(module, module.exports, require);
    templates = module.exports;
  }
  return templates;
};

const templateContext = async (resolveVariable) => {
  const [service, stage, thingTypeName] = await Promise.all([
    resolveVariable("self:service"),
    resolveVariable("sls:stage"),
    resolveVariable("param:thingTypeName"),
  ]);
  return { thingGroupName: `${service}-${stage}-devices`, ...(thingTypeName ? { thingTypeName } : {}) };
};

/** The JITP template: the Thing named by the subject field devices are named by, its certificate INACTIVE. */
module.exports.jitpTemplateBody = async ({ resolveVariable }) => {
  const { renderProvisioningTemplate, jitpProfile, jitpParameterOf } = templateModule();
  const field = await resolveVariable("param:deviceIdField");
  return renderProvisioningTemplate(
    readFileSync(join(__dirname, "..", "templates", "jitp.json"), "utf8"),
    await templateContext(resolveVariable),
    jitpProfile(jitpParameterOf(field)),
  );
};

/** The fleet provisioning template: the Thing in the devices' group, its certificate ACTIVE (the hook decided). */
module.exports.fleetProvisioningTemplateBody = async ({ resolveVariable }) =>
  templateModule().renderProvisioningTemplate(
    readFileSync(join(__dirname, "..", "templates", "fleet-provisioning.json"), "utf8"),
    await templateContext(resolveVariable),
  );
