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

export type ApiClient = (
  method: "GET" | "POST",
  path: string,
  options?: { query?: Record<string, string>; body?: unknown; idempotencyKey?: string },
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
  return async (method, path, { query, body, idempotencyKey } = {}) => {
    const url = new URL(`${base.pathname.replace(/\/$/, "")}${path}`, base);
    for (const [name, value] of Object.entries(query ?? {})) url.searchParams.set(name, value);
    const payload = body === undefined ? undefined : JSON.stringify(body);
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
        ...(payload ? { "content-type": "application/json" } : {}),
        ...(idempotencyKey ? { "idempotency-key": idempotencyKey } : {}),
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
