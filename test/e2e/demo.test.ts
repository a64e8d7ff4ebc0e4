import { describe, expect, inject, it } from "vitest";
import { runDemo } from "#local/demo.js";

/** npm start's journey, run on the deployed stack the end-to-end tests share. */
describe("the demo npm start runs", () => {
  it("provisions the good devices, keeps the hostile ones out with their reasons, revokes and recalls", async () => {
    const lines: string[] = [];
    const report = await runDemo(inject("localStack"), (line) => lines.push(line));
    const row = (label: string) => report.rows.find((r) => r.certificate === label);

    for (const good of ["good EC P-256", "good RSA 2048", "good EC P-384"]) {
      expect(row(good)).toMatchObject({
        deviceSaw: expect.stringMatching(/^accepted on connect \d+, published$/),
      });
      expect(row(good)?.recorded).toMatch(/provisioned/);
    }
    expect(row("good EC P-384")?.certificateStatus).toBe("ACTIVE"); // revoked by the demo afterwards
    expect(row("clone of 001")).toMatchObject({
      recorded: expect.stringMatching(/^REFUSED IDENTITY_ALREADY_CLAIMED/),
      certificateStatus: "REVOKED",
    });
    expect(row("not on the allowlist")?.recorded).toMatch(/^WAITING NOT_ON_ALLOWLIST/);
    expect(row("other product line")?.recorded).toMatch(/^WAITING CA_NOT_BATCH_CA/);
    expect(row("a CA certificate")?.recorded).toMatch(/^REFUSED CERTIFICATE_IS_CA/);
    for (const hostile of ["expired", "RSA 1024", "server-auth only", "forged CA signature"])
      expect(row(hostile)?.deviceSaw, hostile).toMatch(/^refused/);
    expect(
      report.rows
        .filter((r) => r.deviceSaw.startsWith("accepted"))
        .map((r) => r.certificate)
        .sort(),
    ).toEqual(["good EC P-256", "good EC P-384", "good RSA 2048", "recall lot", "recall lot"]);
    expect(lines).toContainEqual(
      expect.stringMatching(/demo-sensor-003 connects again: (closed-without-connack|refused)$/),
    );
    expect(lines.some((line) => /recall RECALLED/.test(line))).toBe(true);
    expect(report.firstPublishMs).toHaveLength(3);
  });
});
