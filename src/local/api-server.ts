import { randomUUID, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Sha256 } from "@aws-crypto/sha256-js";
import { HttpRequest } from "@smithy/protocol-http";
import { SignatureV4 } from "@smithy/signature-v4";
import type {
  APIGatewayProxyEventV2WithIAMAuthorizer,
  APIGatewayProxyStructuredResultV2,
  Context,
} from "aws-lambda";

/**
 * The operations API on a loopback port, the way API Gateway's HTTP API runs it: every request
 * must carry a valid SigV4 signature (service execute-api) by a known key, and the handler gets a
 * payload-2.0 event with the caller's IAM identity. For the local stack and the tests only.
 */
export interface LocalCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** The IAM identity API Gateway would report for this key. */
  readonly userArn: string;
}

export type ApiHandler = (
  event: APIGatewayProxyEventV2WithIAMAuthorizer,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

export interface LocalApi {
  readonly url: string;
  close(): Promise<void>;
}

// API Gateway's payload limit.
const MAX_BODY = 10 * 1024 * 1024;

class PayloadTooLargeError extends Error {}
const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/execute-api\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

const readBody = (request: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) reject(new PayloadTooLargeError("body too large"));
      else chunks.push(chunk);
    });
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });

/** Recomputes the signature with the key's secret; the caller, or undefined when it does not match. */
const authenticate = async (
  request: IncomingMessage,
  url: URL,
  body: string,
  keys: readonly LocalCredentials[],
) => {
  const match = AUTHORIZATION.exec(String(request.headers.authorization ?? ""));
  const amzDate = String(request.headers["x-amz-date"] ?? "");
  if (!match || !/^\d{8}T\d{6}Z$/.test(amzDate)) return undefined;
  const [, accessKeyId, , region, signedHeaders, signature] = match;
  const key = keys.find((candidate) => candidate.accessKeyId === accessKeyId);
  if (!key || !region || !signedHeaders || !signature) return undefined;
  const signingDate = new Date(
    `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
  );
  // API Gateway accepts signatures up to 5 minutes old.
  if (Math.abs(Date.now() - signingDate.getTime()) > 5 * 60_000) return undefined;
  const headers: Record<string, string> = {};
  for (const name of signedHeaders.split(";")) headers[name] = String(request.headers[name] ?? "");
  const signer = new SignatureV4({ credentials: key, region, service: "execute-api", sha256: Sha256 });
  const resigned = await signer.sign(
    new HttpRequest({
      method: request.method ?? "GET",
      protocol: "http:",
      hostname: url.hostname,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      ...(body ? { body } : {}),
    }),
    { signingDate },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(String(resigned.headers.authorization))?.[1] ?? "";
  return expected.length === signature.length &&
    timingSafeEqual(Buffer.from(expected), Buffer.from(signature))
    ? key
    : undefined;
};

const toEvent = (
  request: IncomingMessage,
  url: URL,
  body: string,
  caller: LocalCredentials,
): APIGatewayProxyEventV2WithIAMAuthorizer => {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers))
    if (value !== undefined) headers[name] = [value].flat().join(",");
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams)
    query[name] = query[name] === undefined ? value : `${query[name]},${value}`;
  const accountId = caller.userArn.split(":")[4] ?? "000000000000";
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath: url.pathname,
    rawQueryString: url.searchParams.toString(),
    headers,
    ...(url.searchParams.size > 0 ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId,
      apiId: "local",
      domainName: url.host,
      domainPrefix: "local",
      http: {
        method: request.method ?? "GET",
        path: url.pathname,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp: request.socket.remoteAddress ?? "127.0.0.1",
        userAgent: headers["user-agent"] ?? "",
      },
      requestId: randomUUID(),
      routeKey: "$default",
      stage: "$default",
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
      authorizer: {
        iam: {
          accessKey: caller.accessKeyId,
          accountId,
          callerId: caller.accessKeyId,
          cognitoIdentity: null as never,
          principalOrgId: null as never,
          userArn: caller.userArn,
          userId: caller.accessKeyId,
        },
      },
    },
    ...(body ? { body } : {}),
    isBase64Encoded: false,
  };
};

export const startLocalApi = (
  handler: ApiHandler,
  keys: readonly LocalCredentials[],
  port = 0,
): Promise<LocalApi> => {
  // A large header limit, so an oversized request reaches the handler and gets its 400 like on API Gateway.
  const server: Server = createServer({ maxHeaderSize: 1024 * 1024 }, async (request, response) => {
    try {
      const url = new URL(request.url ?? "/", `http://${request.headers.host ?? "127.0.0.1"}`);
      const body = await readBody(request);
      // A request that cannot even be checked is as unauthenticated as a bad signature.
      const caller = await authenticate(request, url, body, keys).catch(() => undefined);
      if (!caller) {
        response
          .writeHead(403, { "content-type": "application/json" })
          .end(JSON.stringify({ message: "Forbidden" }));
        return;
      }
      const context = {
        functionName: "operations-api-local",
        awsRequestId: randomUUID(),
        getRemainingTimeInMillis: () => 29_000,
      } as Context;
      const result = await handler(toEvent(request, url, body, caller), context);
      response
        .writeHead(result.statusCode ?? 200, result.headers as Record<string, string>)
        .end(result.body ?? "");
    } catch {
      // What API Gateway answers when the integration fails.
      response
        .writeHead(500, { "content-type": "application/json" })
        .end(JSON.stringify({ message: "Internal Server Error" }));
    }
  });
  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      const { port: bound } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${bound}`,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
};
