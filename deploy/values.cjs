// Values serverless.yml computes at packaging time.
const { createHash } = require("node:crypto");
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

// The device policy resource is updated when its template changes, not only when its properties do.
module.exports.devicePolicyTemplateSha256 = () =>
  createHash("sha256")
    .update(readFileSync(join(__dirname, "..", "templates", "device-policy.json")))
    .digest("hex");
