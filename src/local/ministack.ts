import { openSync, readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { join } from "node:path";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { gatewayTls } from "./gateway-tls.js";
import { freePort, startLocalServer } from "./local-server.js";

/**
 * The local AWS that the packaged stack is deployed on: ministack with IAM enforced on every call
 * (AUTH=true), IoT policies enforced on MQTT sessions, HTTPS on its API port and mutual-TLS MQTT
 * with just-in-time registration, both on free loopback ports. scripts/ministack/launch.py starts
 * it (with its one IoT Core correction); scripts/python-env.mjs makes its Python environment.
 */
export interface LocalAws {
  /** The API endpoint (AWS_ENDPOINT_URL), HTTPS. */
  readonly endpoint: string;
  readonly port: number;
  readonly region: string;
  readonly accountId: string;
  /** The MQTT over mutual TLS port (IoT Core's 8883). */
  readonly mqttPort: number;
  /** The CA the API endpoint's certificate chains to (AWS_CA_BUNDLE). */
  readonly caBundlePath: string;
  /** The emulator's own log: every call, every Lambda invocation and its output. */
  readonly logPath: string;
  /** Credentials of the account's root user, for setting the stage; the functions use their roles. */
  readonly rootCredentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  stop(): Promise<void>;
}

const ROOT = new URL("../../", import.meta.url).pathname;
const REGION = "us-east-1";
const ACCOUNT_ID = "000000000000";
// ministack treats this key as the account's root user.
const ROOT_CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" };

/** SDK client settings for talking to the local AWS as the root user, trusting its CA. */
export const localClientConfig = (aws: Pick<LocalAws, "endpoint" | "region" | "caBundlePath">) => ({
  endpoint: aws.endpoint,
  region: aws.region,
  credentials: ROOT_CREDENTIALS,
  requestHandler: new NodeHttpHandler({ httpsAgent: trustingAgent(aws.caBundlePath) }),
});

const agents = new Map<string, Agent>();
export const trustingAgent = (caPath: string): Agent => {
  let agent = agents.get(caPath);
  if (!agent) {
    agent = new Agent({ ca: readFileSync(caPath), keepAlive: true });
    agents.set(caPath, agent);
  }
  return agent;
};

/** GET over HTTPS with the local CA trusted; undefined when nothing answers. */
export const getLocal = (
  url: string,
  caPath: string,
): Promise<{ status: number; body: string } | undefined> =>
  new Promise((resolve) => {
    const req = request(url, { agent: trustingAgent(caPath), timeout: 2000 }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        body += chunk;
      });
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
    });
    req.on("error", () => resolve(undefined));
    req.on("timeout", () => req.destroy());
    req.end();
  });

const ready = async (endpoint: string, caPath: string): Promise<boolean> => {
  const answer = await getLocal(`${endpoint}/_ministack/ready`, caPath);
  if (answer?.status !== 200) return false;
  return (JSON.parse(answer.body) as { iot_mtls?: string }).iot_mtls === "listening";
};

export const startLocalAws = async (
  options: { logDirectory?: string; venv?: string } = {},
): Promise<LocalAws> => {
  const venv = options.venv ?? join(ROOT, ".venv-ministack");
  const tls = await gatewayTls(join(ROOT, ".local", "endpoint-tls"));
  const [port, mqttPort] = [await freePort(), await freePort()];
  const endpoint = `https://127.0.0.1:${port}`;
  const logPath = join(options.logDirectory ?? join(ROOT, ".local"), `ministack-${port}.log`);
  const server = await startLocalServer({
    name: "ministack",
    command: join(venv, "bin", "python"),
    args: [join(ROOT, "scripts", "ministack", "launch.py")],
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TMPDIR: process.env.TMPDIR,
      BIND_HOST: "127.0.0.1",
      GATEWAY_PORT: String(port),
      IOT_MTLS_PORT: String(mqttPort),
      AUTH: "true",
      USE_SSL: "1",
      MINISTACK_SSL_CERT: tls.certificatePath,
      MINISTACK_SSL_KEY: tls.keyPath,
      MINISTACK_REGION: REGION,
      MINISTACK_ACCOUNT_ID: ACCOUNT_ID,
      AWS_ACCESS_KEY_ID: ROOT_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: ROOT_CREDENTIALS.secretAccessKey,
      // The functions run as local Node processes that inherit this environment: they trust the
      // endpoint's CA as a Lambda trusts AWS's.
      NODE_EXTRA_CA_CERTS: tls.caPath,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      SFTP_ENABLED: "0",
      LOG_LEVEL: "INFO",
    },
    ready: () => ready(endpoint, tls.caPath),
    startupTimeoutMs: 60_000,
    logFile: openSync(logPath, "w"),
    hint: "run: node scripts/python-env.mjs ministack",
  });
  return {
    endpoint,
    port,
    region: REGION,
    accountId: ACCOUNT_ID,
    mqttPort,
    caBundlePath: tls.caPath,
    logPath,
    rootCredentials: ROOT_CREDENTIALS,
    stop: server.stop,
  };
};
