import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import type { CaView, VerificationSigner } from "#app/onboard-ca.js";
import type { CaRegistry } from "#app/ports.js";
import { ValidationError } from "#domain/errors.js";
import { type CaCertificateId, isCaCertificateId } from "#domain/ids.js";
import { type ApiCommandKit, type CommonOptions, table } from "./api-commands.js";
import { printableJson, show } from "./terminal.js";

/**
 * The CA commands. They call IoT Core with the operator's own AWS credentials (--profile, --region),
 * not the operations API: registering proves possession of the CA key, which never leaves this
 * machine. Recalling a CA's devices goes through the API, as any recall does.
 */
export interface CaCommandIo {
  readonly cas: (aws: { readonly profile?: string; readonly region?: string }) => Promise<CaRegistry>;
  /** Signs with the CA key, checked against the CA certificate first. */
  readonly signer: (caPem: string, keyPem: string) => Promise<VerificationSigner>;
  readonly now: () => Date;
  readonly out: (text: string) => void;
}

interface CaOptions extends CommonOptions {}

const caId = (value: string): CaCertificateId => {
  const id = value.toLowerCase();
  if (!isCaCertificateId(id))
    throw new ValidationError(`${value} is not a CA certificate id (64 hex characters)`);
  return id;
};

const awsOf = (options: CaOptions) => ({
  ...(options.profile ? { profile: options.profile } : {}),
  ...(options.region ? { region: options.region } : {}),
});

const readableCa = (ca: CaView): string =>
  [
    `CA           ${show(ca.caCertificateId)}`,
    `status       ${show(ca.status)}, auto-registration ${ca.autoRegistration === "ENABLE" ? "on" : "off"}, ${show(ca.mode)} mode`,
    `subject      ${show(ca.subject)}`,
    `expires      ${show(ca.notAfter)}`,
    `provisions   ${ca.jitpTemplate ? `by JITP template ${show(ca.jitpTemplate)}` : "by fleetgate (JITR)"}`,
    ...ca.warnings.map((warning) => `warning      ${show(warning)}`),
  ].join("\n");

export const addCaCommands = (program: Command, io: CaCommandIo, kit: ApiCommandKit): void => {
  const ca = program
    .command("ca")
    .description("the CAs that issue device certificates, in IoT Core (with your AWS credentials)");
  const print = (options: CaOptions, value: unknown, readable: string) =>
    io.out(options.json ? printableJson(value) : readable);
  const deps = async (options: CaOptions) => ({
    cas: await io.cas(awsOf(options)),
    clock: { now: io.now },
  });
  // Imported by the command that runs: they load the X.509 parser, which --help does not need.
  const useCases = () => import("#app/onboard-ca.js");

  kit
    .common(
      ca
        .command("register")
        .description(
          "register a CA for its devices' first connections, ACTIVE with auto-registration; refused when it is not a CA, has expired or is weak",
        )
        .argument("<ca.pem>", "the CA certificate")
        .option(
          "--key <ca.key>",
          "the CA's private key (DEFAULT mode): signs the verification certificate here",
        )
        .option("--sni-only", "SNI_ONLY mode: no key needed, the CA may be registered in other accounts too")
        .option(
          "--jitp <templateName>",
          "IoT Core registers the CA's devices through this JITP template (the stack's JitpTemplateName output), fleetgate decides and activates; turns the registry's Thing events on",
        ),
    )
    .action(async (path: string, options: CaOptions & { key?: string; sniOnly?: boolean; jitp?: string }) => {
      if (Boolean(options.key) === Boolean(options.sniOnly))
        throw new ValidationError("give --key <ca.key> (DEFAULT mode) or --sni-only");
      const caPem = await readFile(path, "utf8");
      const sign = options.key ? await io.signer(caPem, await readFile(options.key, "utf8")) : undefined;
      const view = await (await useCases()).onboardCa(await deps(options), {
        caPem,
        ...(sign ? { sign } : {}),
        ...(options.jitp ? { jitpTemplateName: options.jitp } : {}),
      });
      const events =
        view.thingEventsTurnedOn === undefined
          ? []
          : [
              `events       registry Thing events ${view.thingEventsTurnedOn ? "turned on in this account and region (every Thing change now publishes an event; fleetgate's rule takes only the Things JITP makes)" : "were on already"}`,
            ];
      print(
        options,
        view,
        [
          readableCa(view),
          ...events,
          `next         fleetgate batch register <manifest> --ca ${view.caCertificateId}`,
        ].join("\n"),
      );
    });

  kit
    .common(ca.command("list").description("the account's CAs, with status and expiry"))
    .action(async (options: CaOptions) => {
      const views = await (await useCases()).listCas(await deps(options));
      print(
        options,
        { cas: views },
        table(
          views.map((view) => ({ ...view, warnings: view.warnings.length || "" })),
          ["caCertificateId", "status", "autoRegistration", "mode", "notAfter", "jitpTemplate", "warnings"],
          "no CAs registered",
        ),
      );
    });

  kit
    .common(
      ca.command("show").description("a CA: status, mode, subject, expiry, warnings").argument("<caId>"),
    )
    .action(async (id: string, options: CaOptions) => {
      const view = await (await useCases()).showCa(await deps(options), caId(id));
      print(options, view, readableCa(view));
    });

  kit
    .common(
      ca
        .command("deactivate")
        .description(
          "take a CA out of service (a compromised CA): IoT Core registers no new certificate of it; --recall also recalls every device it issued",
        )
        .argument("<caId>")
        .option("--recall", "recall every batch of the CA through the operations API, paced")
        .option("--reason <text>", "why (required with --recall, recorded on every device)"),
    )
    .action(async (id: string, options: CaOptions & { recall?: boolean; reason?: string }) => {
      const ca = caId(id);
      if (options.recall && !options.reason?.trim())
        throw new ValidationError("--recall needs --reason <text>");
      await (await useCases()).setCaInService(await deps(options), ca, false);
      if (!options.recall) {
        print(
          options,
          { caCertificateId: ca, status: "INACTIVE" },
          `CA ${ca} is INACTIVE: no new certificate of it is registered.\nIts devices keep working until recalled: fleetgate ca recall ${ca} --reason <text>`,
        );
        return;
      }
      await recall(kit, ca, options, options.reason ?? "");
    });

  kit
    .common(
      ca
        .command("activate")
        .description("put a CA back in service: ACTIVE, auto-registration on")
        .argument("<caId>"),
    )
    .action(async (id: string, options: CaOptions) => {
      const ca = caId(id);
      await (await useCases()).setCaInService(await deps(options), ca, true);
      print(options, { caCertificateId: ca, status: "ACTIVE" }, `CA ${ca} is ACTIVE, auto-registration on`);
    });

  kit
    .common(
      ca
        .command("recall")
        .description("recall every device a CA issued, batch by batch, through the operations API")
        .argument("<caId>")
        .requiredOption("--reason <text>", "why (recorded on every device)"),
    )
    .action((id: string, options: CaOptions & { reason: string }) =>
      recall(kit, caId(id), options, options.reason),
    );
};

const recall = (kit: ApiCommandKit, ca: CaCertificateId, options: CaOptions, reason: string) =>
  kit.call(options, (api) => api("POST", `/cas/${ca}/recall`, { body: { reason } }), "ca recall");
