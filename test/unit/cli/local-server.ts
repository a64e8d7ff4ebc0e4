import { readFileSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";

/** A request as the local server received it. */
export interface Received {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage["headers"];
  readonly body: string;
}

export interface Reply {
  readonly status: number;
  /** JSON unless a string. */
  readonly body?: unknown;
}

export interface LocalServer {
  /** http(s)://127.0.0.1:<port> */
  readonly url: string;
  readonly received: Received[];
  readonly close: () => Promise<void>;
}

/**
 * An HTTP(S) server on loopback (port 0) answering each request with `reply`: what the CLI's
 * requests look like on the wire, and how it takes real answers.
 */
export const localServer = async (
  reply: (request: Received) => Reply,
  tls?: { readonly certificatePath: string; readonly keyPath: string },
): Promise<LocalServer> => {
  const received: Received[] = [];
  const handle = (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const seen = {
        method: request.method ?? "",
        path: request.url ?? "",
        headers: request.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      received.push(seen);
      const { status, body } = reply(seen);
      const text = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
      response.writeHead(status, {
        "content-type": typeof body === "string" ? "text/html" : "application/json",
      });
      response.end(text);
    });
  };
  const server = tls
    ? createHttpsServer({ cert: readFileSync(tls.certificatePath), key: readFileSync(tls.keyPath) }, handle)
    : createHttpServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls ? "https" : "http"}://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};

/** A loopback port nothing listens on. */
export const closedPort = async (): Promise<number> => {
  const server = createHttpServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
};
