import { Sha256 } from "@aws-crypto/sha256-js";
import { fromNodeProviderChain } from "@aws-sdk/credential-providers";
import { HttpRequest } from "@smithy/protocol-http";
import { SignatureV4 } from "@smithy/signature-v4";
import type { AwsCredentialIdentityProvider } from "@smithy/types";

/** An answer of the operations API: the status, and the JSON or problem document it sent. */
export interface ApiAnswer {
  readonly status: number;
  readonly body: unknown;
}

export interface ApiClientOptions {
  readonly baseUrl: string;
  readonly region: string;
  /** Defaults to the standard AWS credential chain (environment, profile, SSO, instance role). */
  readonly credentials?: AwsCredentialIdentityProvider;
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
  const signer = new SignatureV4({
    credentials: options.credentials ?? fromNodeProviderChain(),
    region: options.region,
    service: "execute-api",
    sha256: Sha256,
  });
  const base = new URL(options.baseUrl);
  return async (method, path, { query, body, raw, idempotencyKey, headers } = {}) => {
    const url = new URL(`${base.pathname.replace(/\/$/, "")}${path}`, base);
    for (const [name, value] of Object.entries(query ?? {})) url.searchParams.set(name, value);
    const payload = raw?.text ?? (body === undefined ? undefined : JSON.stringify(body));
    const contentType = raw?.contentType ?? "application/json";
    const request = new HttpRequest({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: {
        host: url.host,
        accept: "application/json",
        ...(payload ? { "content-type": contentType } : {}),
        ...(idempotencyKey ? { "idempotency-key": idempotencyKey } : {}),
        ...headers,
      },
      ...(payload ? { body: payload } : {}),
    });
    const signed = await signer.sign(request);
    const response = await fetch(url, {
      method,
      headers: signed.headers as Record<string, string>,
      ...(payload ? { body: payload } : {}),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // Not JSON (a gateway error page): keep the text.
    }
    return { status: response.status, body: parsed };
  };
};
