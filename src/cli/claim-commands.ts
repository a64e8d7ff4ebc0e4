import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "commander";
import type { IssuedClaim } from "#app/claims.js";
import type { ClaimBinding } from "#domain/claim.js";
import { ValidationError } from "#domain/errors.js";
import { type CertificateId, isCertificateId } from "#domain/ids.js";
import { table } from "./api-commands.js";
import type { ClaimStack } from "./claims.js";
import { resolveStack, type StackFlags, type StackOptions, stackOptions } from "./stack-outputs.js";
import { printableJson, show } from "./terminal.js";

/**
 * fleetgate claim create|revoke|list: claim certificates for fleet provisioning, made in IoT Core
 * and bound to batches in the lifecycle table with the operator's own AWS credentials (as the CA
 * commands do), on the deployment its stack's outputs describe.
 */
export interface ClaimCommandIo {
  readonly out: (text: string) => void;
  readonly actor: string;
  /** The region from the AWS configuration: the environment, then the profile's config. */
  readonly awsRegion?: (profile: string | undefined) => Promise<string | undefined>;
  /** The deployment's claim dependencies; the real ones by default (tests give theirs). */
  readonly claims?: (stack: StackOptions) => Promise<ClaimStack>;
}

const claimId = (value: string): CertificateId => {
  const id = value.toLowerCase();
  if (!isCertificateId(id)) throw new ValidationError(`${value} is not a certificate id (64 hex characters)`);
  return id;
};

const collect = (value: string, previous: string[] = []) => [...previous, value];

const readableClaim = (claim: ClaimBinding) =>
  [
    `claim        ${show(claim.claimCertificateId)}`,
    `batches      ${claim.batchIds.map(show).join(", ")}`,
    `created      ${show(claim.createdAt)} by ${show(claim.createdBy)}`,
    ...(claim.revoked
      ? [`revoked      ${show(claim.revoked.at)} by ${show(claim.revoked.by)}: ${show(claim.revoked.reason)}`]
      : []),
  ].join("\n");

export const addClaimCommands = (program: Command, io: ClaimCommandIo): void => {
  const claim = program
    .command("claim")
    .description(
      "claim certificates for fleet provisioning, each bound to batches (with your AWS credentials)",
    );
  const stackOf = async (flags: StackFlags) => {
    const stack = await resolveStack(flags, io.awsRegion);
    return io.claims ? io.claims(stack) : (await import("./claims.js")).claimStack(stack);
  };

  stackOptions(
    claim
      .command("create")
      .description(
        "make a claim certificate with the claim policy, bound to the batches whose devices it may provision",
      )
      .requiredOption("--batch <batchId>", "a batch its devices come from (repeat for more)", collect)
      .option("--out <dir>", "where to write the certificate and key", ".")
      .option("--csr <file>", "your CSR: IoT Core signs it, and the key never leaves where you made it"),
  ).action(async (flags: StackFlags & { batch: string[]; out: string; csr?: string }) => {
    const csrPem = flags.csr ? await readFile(flags.csr, "utf8") : undefined;
    const { deps, templateName } = await stackOf(flags);
    const { createClaim } = await import("#app/claims.js");
    const issued = await createClaim(deps, {
      batchIds: flags.batch,
      ...(csrPem ? { csrPem } : {}),
      actor: io.actor,
    });
    const files = await writeClaim(flags.out, issued);
    const { certificatePem: _pem, privateKeyPem: _key, ...binding } = issued;
    io.out(
      flags.json
        ? printableJson({ ...binding, files, templateName })
        : [
            readableClaim(binding),
            `certificate  ${show(files.certificate)}`,
            ...(files.privateKey ? [`private key  ${show(files.privateKey)} (keep it secret)`] : []),
            `devices      connect with client id claim.<anything>, then provision through template ${show(templateName)} with the parameter DeviceId`,
          ].join("\n"),
    );
  });

  stackOptions(
    claim
      .command("revoke")
      .description("revoke a claim: the hook refuses it, IoT Core refuses its connections")
      .argument("<claimCertificateId>")
      .requiredOption("--reason <text>", "why (kept on the claim's record)"),
  ).action(async (id: string, flags: StackFlags & { reason: string }) => {
    const { deps } = await stackOf(flags);
    const { revokeClaim } = await import("#app/claims.js");
    const revoked = await revokeClaim(deps, claimId(id), { reason: flags.reason, actor: io.actor });
    io.out(flags.json ? printableJson(revoked) : readableClaim(revoked));
  });

  stackOptions(
    claim
      .command("list")
      .description("claims, most recent first, with their batches")
      .option("--limit <n>", "how many", "50")
      .option("--cursor <cursor>"),
  ).action(async (flags: StackFlags & { limit: string; cursor?: string }) => {
    const limit = Number.parseInt(flags.limit, 10);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw new ValidationError("--limit must be a whole number from 1 to 1000");
    const { deps } = await stackOf(flags);
    const { listClaims } = await import("#app/claims.js");
    const page = await listClaims(deps, { limit, ...(flags.cursor ? { cursor: flags.cursor } : {}) });
    io.out(
      flags.json
        ? printableJson({ claims: page.items, ...(page.cursor ? { cursor: page.cursor } : {}) })
        : table(
            page.items.map((one) => ({
              claimCertificateId: one.claimCertificateId,
              batches: one.batchIds.join(","),
              createdAt: one.createdAt,
              revoked: one.revoked ? one.revoked.at : "",
            })),
            ["claimCertificateId", "batches", "createdAt", "revoked"],
            "no claims",
          ) + (page.cursor ? `\nmore: --cursor ${page.cursor}` : ""),
    );
  });
};

/** The claim's certificate, and its key when IoT Core made it (readable by its owner only). */
const writeClaim = async (dir: string, issued: IssuedClaim) => {
  await mkdir(dir, { recursive: true });
  const base = join(dir, `claim-${issued.claimCertificateId.slice(0, 12)}`);
  const certificate = `${base}.cert.pem`;
  await writeFile(certificate, issued.certificatePem, { flag: "wx" });
  if (!issued.privateKeyPem) return { certificate };
  const privateKey = `${base}.private.key`;
  await writeFile(privateKey, issued.privateKeyPem, { flag: "wx", mode: 0o600 });
  return { certificate, privateKey };
};
