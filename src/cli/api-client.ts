import type { AwsCredentialIdentityProvider } from "@smithy/types";
import { httpTransport, shownUrl, type Transport, type Trust } from "./http.js";
import type { Signer } from "./signing.js";

/** An answer of the operations API: the status, and the JSON or problem document it sent. */
export interface ApiAnswer {
  readonly status: number;
  readonly body: unknown;
  /** The request it answers, for error messages (the URL without its query). */
  readonly method?: string;
  readonly url?: string;
}

export interface ApiClientOptions {
  readonly baseUrl: string;
  readonly region: string;
  /** The profile whose credentials sign the calls; the standard chain's choice when absent. */
  readonly profile?: string | undefined;
  /** Defaults to the standard AWS credential chain (environment, profile, SSO, instance role). */
  readonly credentials?: AwsCredentialIdentityProvider;
  /** Extra CAs to trust (AWS_CA_BUNDLE), when the transport is not given. */
  readonly trust?: Trust;
  readonly transport?: Transport;
}

export interface ApiRequestOptions {
  readonly query?: Record<string, string>;
  /** A JSON body. */
  readonly body?: unknown;
  /** A body sent as it is, e.g. a CSV manifest. */
  readonly raw?: { readonly contentType: string; readonly text: string };
  readonly idempotencyKey?: string;
  readonly headers?: Record<string, string>;
}

export type ApiClient = (
  method: "GET" | "POST",
  path: string,
  options?: ApiRequestOptions,
) => Promise<ApiAnswer>;

/** Calls the IAM-authorised operations API with SigV4-signed requests (service execute-api). */
export const createApiClient = (options: ApiClientOptions): ApiClient => {
  const transport = options.transport ?? httpTransport(options.trust);
  let signer: Promise<Signer> | undefined;
  const base = new URL(options.baseUrl);
  return async (method, path, { query, body, raw, idempotencyKey, headers } = {}) => {
    signer ??= import("./signing.js").then(({ createSigner }) =>
      createSigner({ region: options.region, profile: options.profile, credentials: options.credentials }),
    );
    const url = new URL(`${base.pathname.replace(/\/$/, "")}${path}`, base);
    for (const [name, value] of Object.entries(query ?? {})) url.searchParams.set(name, value);
    const payload = raw?.text ?? (body === undefined ? undefined : JSON.stringify(body));
    const signed = await (await signer).sign({
      method,
      url,
      headers: {
        accept: "application/json",
        ...(payload ? { "content-type": raw?.contentType ?? "application/json" } : {}),
        ...(idempotencyKey ? { "idempotency-key": idempotencyKey } : {}),
        ...headers,
      },
      ...(payload ? { body: payload } : {}),
    });
    const answer = await transport({ method, url, headers: signed, ...(payload ? { body: payload } : {}) });
    return { status: answer.status, body: parseBody(answer.text), method, url: shownUrl(url) };
  };
};

const parseBody = (text: string): unknown => {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON (a gateway's or a proxy's error page): keep the text.
    return text;
  }
};
