import { userInfo } from "node:os";
import { createApiClient } from "./api-client.js";
import { httpsAgent, httpTransport } from "./http.js";
import type { RunIo } from "./program.js";

/** The streams the CLI writes to: the process's own, or a test's. */
export interface Streams {
  readonly stdout: { write: (text: string) => unknown };
  readonly stderr: { write: (text: string) => unknown; readonly isTTY?: boolean };
}

const lines =
  (stream: { write: (text: string) => unknown }) =>
  (text: string): void => {
    stream.write(text.endsWith("\n") ? text : `${text}\n`);
  };

/**
 * The CLI as a process runs it, from its environment: the operations API (FLEETGATE_API_URL or
 * --api-url), region and credentials from the standard AWS chain (--profile, AWS_PROFILE, the
 * shared config files), extra CAs from AWS_CA_BUNDLE, and the table for registering without the
 * API (DEVICES_TABLE). Everything heavy is imported by the command that needs it.
 */
export const processIo = (streams: Streams = process, version?: string): RunIo => {
  const env = process.env;
  const trust = { caBundle: env.AWS_CA_BUNDLE, nodeExtraCaCerts: env.NODE_EXTRA_CA_CERTS };
  const http = httpTransport(trust);
  const out = lines(streams.stdout);
  return {
    deps: async ({ profile, region }) => {
      // The table's clients are the functions' own, which read region and profile from the
      // environment as the SDK does.
      if (profile) process.env.AWS_PROFILE = profile;
      if (region) process.env.AWS_REGION = region;
      const [{ loadManifestConfig }, { manifestDeps }] = await Promise.all([
        import("#adapters/config.js"),
        import("#adapters/wiring.js"),
      ]);
      return manifestDeps(loadManifestConfig());
    },
    devices: {
      api: ({ apiUrl, region, profile }) =>
        createApiClient({ baseUrl: apiUrl, region, profile, transport: http }),
      awsRegion: async (profile) => (await import("./region.js")).regionFromAwsConfig(profile),
      out,
      ...(env.FLEETGATE_API_URL ? { defaultApiUrl: env.FLEETGATE_API_URL } : {}),
    },
    cas: {
      cas: async ({ profile, region }) => {
        const [{ IoTClient }, { iotCas }] = await Promise.all([
          import("@aws-sdk/client-iot"),
          import("#adapters/iot-cas.js"),
        ]);
        return iotCas(
          new IoTClient({
            ...(profile ? { profile } : {}),
            ...(region ? { region } : {}),
            requestHandler: { httpsAgent: httpsAgent(trust) },
          }),
        );
      },
      signer: async (caPem, keyPem) =>
        (await import("#adapters/verification-signer.js")).caKeySigner(
          caPem,
          keyPem,
          env.FLEETGATE_CA_KEY_PASSPHRASE,
        ),
      now: () => new Date(),
    },
    out,
    err: lines(streams.stderr),
    // Progress is for people: a terminal gets it, a pipe or a log file does not.
    ...(streams.stderr.isTTY ? { progress: lines(streams.stderr) } : {}),
    http,
    actor: env.FLEETGATE_ACTOR ?? `cli:${userInfo().username}`,
    ...(version ? { version } : {}),
  };
};
