import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LOCAL_PACKAGE, PRODUCTION_PACKAGE } from "#test/support/packaging-setup.js";

/**
 * The local stage (deployed on ministack by npm start and the end-to-end tests) is the production
 * template with the emulator's deviations and nothing else: every difference is listed here, and
 * README "The local stack" says why each exists.
 */
const template = (directory: string) =>
  JSON.parse(readFileSync(join(directory, "cloudformation-template-update-stack.json"), "utf8"));

// Names that carry the stage, the bucket suffix, or the code's hash differ by construction.
const normalise = (value: unknown): unknown => {
  if (typeof value === "string")
    return value
      .replace(/\bfleetgate([-_])(dev|local)(?![a-z])/g, "fleetgate$1STAGE")
      .replace(/LambdaVersion\w+$/, "LambdaVersion")
      .replace(/\b(dev|local)-fleetgate\b/g, "STAGE-fleetgate")
      .replace(/fleetgate-device-(dev|local)/g, "fleetgate-device-STAGE")
      .replace(/manifests-(change-me|local)/g, "manifests-SUFFIX")
      .replace(/serverless\/fleetgate\/(dev|local)\/[^/]+\//g, "serverless/fleetgate/STAGE/ARTIFACT/")
      .replace(/\/(dev|local)\b/g, "/STAGE");
  if (Array.isArray(value)) return value.map(normalise);
  if (value && typeof value === "object")
    return Object.fromEntries(
      Object.entries(value).map(([key, inner]) => [
        key.replace(/LambdaVersion\w+$/, "LambdaVersion"),
        normalise(inner),
      ]),
    );
  return value;
};

/** Paths where two JSON trees differ, statements named by their Sid. */
const differences = (a: unknown, b: unknown, path = ""): string[] => {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  if (a && b && typeof a === "object" && typeof b === "object" && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((key) => {
      const left = (a as Record<string, unknown>)[key];
      const right = (b as Record<string, unknown>)[key];
      const sid = (left as { Sid?: string } | undefined)?.Sid;
      return differences(left, right, `${path}/${sid ?? key}`);
    });
  }
  return [path];
};

const LAMBDA_CODE = /\/(Code\/S3Key|CodeSha256)$/;

describe("the local stage", () => {
  it("differs from the production template only by the emulator deviations the README lists", () => {
    const production = normalise(template(PRODUCTION_PACKAGE));
    const local = normalise(template(LOCAL_PACKAGE));

    // A difference is named by the statement field it is in.
    const found = new Set(
      differences(production, local)
        .filter((path) => !LAMBDA_CODE.test(path))
        .map((path) => path.replace(/\/(Action|Resource)\/.*$/, "/$1")),
    );

    expect([...found].sort()).toEqual(
      [
        // The emulator's rule engine delivers to SQS without TLS.
        "/Resources/JitrQueuePolicy/Properties/PolicyDocument/Statement/DenyInsecureTransport/Action",
        "/Resources/PresenceQueuePolicy/Properties/PolicyDocument/Statement/DenyInsecureTransport/Action",
        "/Resources/RotationQueuePolicy/Properties/PolicyDocument/Statement/DenyInsecureTransport/Action",
        // Its IAM map names no resource for these IoT calls.
        "/Resources/JitrRole/Properties/Policies/0/PolicyDocument/Statement/CertificateAuthorities/Resource",
        "/Resources/IngestManifestRole/Properties/Policies/0/PolicyDocument/Statement/CertificateAuthorities/Resource",
        "/Resources/IngestManifestRole/Properties/Policies/0/PolicyDocument/Statement/RegisterCertificates/Resource",
        "/Resources/OperationsApiRole/Properties/Policies/0/PolicyDocument/Statement/CertificateAuthorities/Resource",
        "/Resources/ReconcilerRole/Properties/Policies/0/PolicyDocument/Statement/CertificateAuthorities/Resource",
        "/Resources/DevicePolicyRole/Properties/Policies/0/PolicyDocument/Statement/AttachToDeviceGroup/Resource",
      ].sort(),
    );
  });
});
