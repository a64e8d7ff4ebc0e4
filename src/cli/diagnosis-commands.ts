import type { Command } from "commander";
import type { ApiCommandKit, CommonOptions } from "./api-commands.js";
import { show } from "./terminal.js";

/**
 * "Why can't device X connect?" and "what is this certificate?", through the operations API
 * (GET /devices/{id}/why, GET /certificates/{id}). Every value shown comes from the API, so from
 * devices and operators: each goes through `show`.
 */
type Row = Record<string, unknown>;

/** The device's entry, one line per certificate that tried to be it (newest first), then the advice. */
export const readableDiagnosis = (body: unknown): string => {
  const value = body as Row;
  const entry = value.onAllowlist
    ? `${show(value.state)}, batch ${show(value.batchId)}`
    : "not on the allowlist";
  const attempts = Array.isArray(value.attempts) ? (value.attempts as Row[]) : [];
  const lines = [`device ${show(value.deviceId)}: ${entry}`];
  if (attempts.length === 0) lines.push("no certificate has tried to be this device");
  for (const attempt of attempts) {
    const waiting =
      attempt.outcome === "WAITING"
        ? ` (waiting since ${show(attempt.waitingSince)}, ${show(attempt.connects)} connects)`
        : "";
    lines.push(
      [
        show(attempt.at),
        `certificate ${show(attempt.certificateId)}`,
        `fleetgate ${show(attempt.outcome)}`,
        `IoT Core ${show(attempt.certificateStatus)}`,
        ...(attempt.diagnosis === undefined ? [] : [`${show(attempt.diagnosis)}${waiting}`]),
      ].join("  "),
    );
  }
  lines.push(`advice: ${show(value.advice)}`);
  return lines.join("\n");
};

/** IoT Core's status of a certificate and what fleetgate decided about it. */
export const readableCertificate = (body: unknown): string => {
  const value = body as Row;
  const record = value.record as Row | undefined;
  const refusal = record?.refusal as Row | undefined;
  const decided = (() => {
    if (!record) return "nothing recorded";
    if (record.outcome === "ASSIGNED")
      return `ASSIGNED to device ${show(record.deviceId)} at ${show(record.at)}`;
    const reason = `${show(refusal?.code)}: ${show(refusal?.detail)}`;
    const device = record.deviceId === undefined ? "" : ` (device ${show(record.deviceId)})`;
    if (record.outcome === "WAITING")
      return `WAITING ${reason}${device}, since ${show(record.firstSeenAt)}, ${show(record.attempts)} connects`;
    return `${show(record.outcome)} ${reason}${device} at ${show(record.at)}`;
  })();
  return [
    `certificate  ${show(value.certificateId)}`,
    `IoT Core     ${value.status === undefined ? "no such certificate (deleted, or never registered)" : show(value.status)}`,
    `CA           ${show(value.caCertificateId)}`,
    `fleetgate    ${decided}`,
  ].join("\n");
};

// A fingerprint as tools print it (AB:CD:…) is the certificate's id in IoT Core's spelling.
const certificateIdOf = (idOrFingerprint: string): string => idOrFingerprint.replace(/:/g, "").toLowerCase();

export const addDiagnosisCommands = (program: Command, { common, call }: ApiCommandKit): void => {
  const device = program.commands.find((command) => command.name() === "device");
  if (!device) throw new Error("the device commands come first");
  common(
    device
      .command("why")
      .description(
        "why a device cannot connect: its entry, the last certificates that tried to be it (fleetgate's decision, IoT Core's status) and what to do",
      )
      .argument("<deviceId>"),
  ).action((deviceId: string, options: CommonOptions) =>
    call(options, (api) => api("GET", `/devices/${encodeURIComponent(deviceId)}/why`), "why", undefined, {
      readable: readableDiagnosis,
    }),
  );

  const certificate = program.command("cert").description("certificates, through the operations API");
  common(
    certificate
      .command("show")
      .description("a certificate's status in IoT Core and what fleetgate decided about it")
      .argument(
        "<id-or-fingerprint>",
        "IoT Core's certificate id, or its SHA-256 fingerprint (colons allowed)",
      ),
  ).action((id: string, options: CommonOptions) =>
    call(
      options,
      (api) => api("GET", `/certificates/${encodeURIComponent(certificateIdOf(id))}`),
      "cert",
      undefined,
      { readable: readableCertificate },
    ),
  );
};
