import { Sha256 } from "@aws-crypto/sha256-js";
import { fromNodeProviderChain } from "@aws-sdk/credential-providers";
import { HttpRequest } from "@smithy/protocol-http";
import { SignatureV4 } from "@smithy/signature-v4";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@smithy/types";
import { CliError } from "./failures.js";

/**
 * SigV4 for the operations API (service execute-api). Loaded only by commands that call the API:
 * the credential chain is most of the CLI's code, and `--help` should not wait for it.
 */

export interface Signer {
  readonly sign: (request: {
    readonly method: string;
    readonly url: URL;
    readonly headers: Readonly<Record<string, string>>;
    readonly body?: string;
  }) => Promise<Record<string, string>>;
}

export const createSigner = (options: {
  readonly region: string;
  readonly profile?: string | undefined;
  readonly credentials?: AwsCredentialIdentityProvider | undefined;
}): Signer => {
  const provider =
    options.credentials ?? fromNodeProviderChain(options.profile ? { profile: options.profile } : {});
  return {
    sign: async ({ method, url, headers, body }) => {
      const signer = new SignatureV4({
        credentials: await credentialsFrom(provider, options.profile),
        region: options.region,
        service: "execute-api",
        sha256: Sha256,
      });
      const signed = await signer.sign(
        new HttpRequest({
          method,
          protocol: url.protocol,
          hostname: url.hostname,
          ...(url.port ? { port: Number(url.port) } : {}),
          path: url.pathname,
          query: Object.fromEntries(url.searchParams),
          headers: { host: url.host, ...headers },
          ...(body === undefined ? {} : { body }),
        }),
      );
      return signed.headers as Record<string, string>;
    },
  };
};

/** The credentials, or exit 6 saying which chain found none and why. */
const credentialsFrom = async (
  provider: AwsCredentialIdentityProvider,
  profile: string | undefined,
): Promise<AwsCredentialIdentity> => {
  try {
    return await provider();
  } catch (error) {
    throw new CliError({
      kind: "notAuthorised",
      message: `no AWS credentials${profile ? ` for profile ${profile}` : ""}: ${(error as Error).message}`,
      hint: "give --profile, set AWS_PROFILE, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
    });
  }
};
