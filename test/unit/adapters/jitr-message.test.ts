import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseJitrMessage } from "#adapters/jitr-message.js";

const valid = {
  certificateId: "c".repeat(64),
  caCertificateId: "a".repeat(64),
  timestamp: 1764000000000,
  certificateStatus: "PENDING_ACTIVATION",
  awsAccountId: "123456789012",
  certificateRegistrationTimestamp: "1764000000000",
};

describe("parseJitrMessage", () => {
  it("accepts the message as IoT Core publishes it, timestamps as numbers or strings", () => {
    expect(parseJitrMessage(JSON.stringify(valid))).toEqual({
      ok: true,
      certificate: { certificateId: valid.certificateId, caCertificateId: valid.caCertificateId },
    });
    const swapped = { ...valid, timestamp: "1764000000000", certificateRegistrationTimestamp: 1764000000000 };
    expect(parseJitrMessage(JSON.stringify(swapped)).ok).toBe(true);
  });

  it.each([
    ["not json", /not JSON/],
    [JSON.stringify({ ...valid, certificateId: "../../etc" }), /certificateId must be 64/],
    [JSON.stringify({ ...valid, caCertificateId: undefined }), /caCertificateId/],
    [JSON.stringify({ ...valid, awsAccountId: "x" }), /awsAccountId/],
    [JSON.stringify({ ...valid, timestamp: "yesterday" }), /timestamp/],
    ["[]", /body/],
  ])("explains why %s is malformed", (body, why) => {
    const result = parseJitrMessage(body);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.why).toMatch(why);
  });

  it("never throws on any input", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (body) => typeof parseJitrMessage(body).ok === "boolean"),
    );
  });
});
