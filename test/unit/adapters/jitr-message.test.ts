import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseJitrMessage } from "#adapters/jitr-message.js";

const fixture = (name: string) => readFileSync(new URL(`../../events/${name}`, import.meta.url), "utf8");
const firstConnect = JSON.parse(fixture("jitr-registered-first-connect.json"));
const ids = { certificateId: firstConnect.certificateId, caCertificateId: firstConnect.caCertificateId };

describe("parseJitrMessage", () => {
  it("accepts the event of the connect that created the certificate: null registration time, extra sourceIp", () => {
    expect(parseJitrMessage(fixture("jitr-registered-first-connect.json"))).toEqual({
      ok: true,
      kind: "certificate",
      certificate: ids,
    });
  });

  it("accepts the event of a later connect: registration time as a string", () => {
    expect(parseJitrMessage(fixture("jitr-registered-reconnect.json"))).toEqual({
      ok: true,
      kind: "certificate",
      certificate: ids,
    });
  });

  it("reads only the two ids: any other field missing, null, of another type or unknown changes nothing", () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.constantFrom(
            "timestamp",
            "certificateStatus",
            "awsAccountId",
            "certificateRegistrationTimestamp",
            "sourceIp",
            "newField",
          ),
          fc.oneof(fc.constant(null), fc.string(), fc.integer(), fc.boolean(), fc.object()),
        ),
        (others) => {
          const result = parseJitrMessage(JSON.stringify({ ...others, ...ids }));
          expect(result).toEqual({ ok: true, kind: "certificate", certificate: ids });
        },
      ),
    );
  });

  it("accepts the registry's event of a Thing JITP created, reading only its name", () => {
    expect(parseJitrMessage(fixture("jitp-thing-created.json"))).toEqual({
      ok: true,
      kind: "thing",
      thingName: "sensor-0042",
    });
  });

  it("takes no other registry event for a Thing JITP created: an update or a bad name is malformed", () => {
    const created = JSON.parse(fixture("jitp-thing-created.json"));
    expect(parseJitrMessage(JSON.stringify({ ...created, operation: "UPDATED" })).ok).toBe(false);
    expect(parseJitrMessage(JSON.stringify({ ...created, thingName: "a/b" })).ok).toBe(false);
  });

  it.each([
    ["not json", /not JSON/],
    [JSON.stringify({ ...ids, certificateId: "../../etc" }), /certificateId must be 64/],
    [JSON.stringify({ ...ids, caCertificateId: undefined }), /caCertificateId/],
    [JSON.stringify({ ...ids, certificateId: null }), /certificateId/],
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
