import { readFileSync } from "node:fs";
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import type { Readable } from "node:stream";
import { rootCertificates } from "node:tls";
import { CliError } from "./failures.js";

/**
 * HTTP for the CLI (the API calls and the S3 upload PUT) through node:https, because Node's global
 * fetch cannot be given extra CAs and operators behind a TLS-inspecting proxy set AWS_CA_BUNDLE.
 * Every failure to get an answer is a CliError naming the URL and the cause (exit 7).
 */

/** Which CAs to trust besides the system's: file paths, as the variables give them. */
export interface Trust {
  /** AWS_CA_BUNDLE: the AWS CLI's variable, a PEM file of CAs. */
  readonly caBundle?: string | undefined;
  /** NODE_EXTRA_CA_CERTS: Node trusts it by itself, but not once an agent is given CAs of its own. */
  readonly nodeExtraCaCerts?: string | undefined;
}

export interface OutgoingRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  /** A text, or a stream of known length (S3 wants a Content-Length on a PUT). */
  readonly body?: string | { readonly stream: Readable; readonly length: number };
}

export interface IncomingAnswer {
  readonly status: number;
  readonly text: string;
}

export type Transport = (request: OutgoingRequest) => Promise<IncomingAnswer>;

const IDLE_TIMEOUT_MS = 60_000;

export const httpTransport = (trust: Trust = {}, idleTimeoutMs = IDLE_TIMEOUT_MS): Transport => {
  let agents: { readonly http: HttpAgent; readonly https: HttpsAgent } | undefined;
  return (request) => {
    // Kept for the whole run: an upload's polls reuse one connection.
    agents ??= { http: new HttpAgent({ keepAlive: true }), https: httpsAgent(trust) };
    return send(request, request.url.protocol === "https:" ? agents.https : agents.http, idleTimeoutMs);
  };
};

/** An HTTPS agent trusting the system's CAs and those named; the SDK clients the CLI makes use it too. */
export const httpsAgent = (trust: Trust): HttpsAgent => {
  if (!trust.caBundle) return new HttpsAgent({ keepAlive: true });
  const ca = [
    ...rootCertificates,
    ...(trust.nodeExtraCaCerts ? [readPem("NODE_EXTRA_CA_CERTS", trust.nodeExtraCaCerts)] : []),
    readPem("AWS_CA_BUNDLE", trust.caBundle),
  ];
  return new HttpsAgent({ keepAlive: true, ca });
};

const readPem = (variable: string, path: string): string => {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new CliError({
      kind: "invalid",
      message: `${variable} names ${path}, which cannot be read: ${(error as Error).message}`,
    });
  }
};

const send = (request: OutgoingRequest, agent: HttpAgent, idleTimeoutMs: number): Promise<IncomingAnswer> =>
  new Promise((resolve, reject) => {
    const { body } = request;
    const length =
      body === undefined ? undefined : typeof body === "string" ? Buffer.byteLength(body) : body.length;
    const call = request.url.protocol === "https:" ? httpsRequest : httpRequest;
    const outgoing = call(
      request.url,
      {
        method: request.method,
        headers: {
          ...request.headers,
          ...(length === undefined ? {} : { "content-length": String(length) }),
        },
        agent,
        timeout: idleTimeoutMs,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
        );
        response.on("error", (error) => reject(unreachable(request, error)));
      },
    );
    outgoing.on("timeout", () =>
      outgoing.destroy(
        Object.assign(new Error(`no answer within ${idleTimeoutMs / 1000} s`), { code: "IDLE" }),
      ),
    );
    outgoing.on("error", (error) => reject(unreachable(request, error)));
    if (body === undefined || typeof body === "string") {
      outgoing.end(body);
      return;
    }
    // A file that cannot be read is the operator's problem, not the network's.
    body.stream.on("error", (error) => {
      reject(error);
      outgoing.destroy();
    });
    body.stream.pipe(outgoing);
  });

/**
 * The URL as errors show it: without the query, which for an upload is a presigned capability
 * (and for the API only a cursor).
 */
export const shownUrl = (url: URL): string => `${url.origin}${url.pathname}`;

const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_|EPROTO$)/;

/** Why no answer came, in words an operator can act on. */
export const causeOf = (error: NodeJS.ErrnoException, url: URL): { cause: string; hint?: string } => {
  const host = url.hostname;
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  switch (error.code) {
    case "ECONNREFUSED":
      return { cause: `connection refused: nothing listens on ${host}:${port}` };
    case "ENOTFOUND":
      return { cause: `DNS: no such host ${host}`, hint: "check --api-url (or FLEETGATE_API_URL)" };
    case "EAI_AGAIN":
      return { cause: `DNS: cannot resolve ${host} now (temporary failure)` };
    case "ECONNRESET":
      return { cause: "the connection was reset" };
    case "ETIMEDOUT":
      return { cause: `connecting to ${host}:${port} timed out` };
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return { cause: `no route to ${host}` };
  }
  if (error.code && TLS_CODE.test(error.code))
    return {
      cause: `TLS: ${error.message}`,
      hint: "if a proxy or a private CA signs this endpoint, name its CA's PEM file in AWS_CA_BUNDLE",
    };
  return { cause: error.message };
};

const unreachable = (request: OutgoingRequest, error: NodeJS.ErrnoException): CliError => {
  const { cause, hint } = causeOf(error, request.url);
  const url = shownUrl(request.url);
  return new CliError({
    kind: "unreachable",
    message: `cannot reach ${request.method} ${url}: ${cause}`,
    method: request.method,
    url,
    ...(hint ? { hint } : {}),
  });
};
