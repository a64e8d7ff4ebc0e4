import mqtt, { type IClientOptions, type MqttClient } from "mqtt";

/**
 * A device as its firmware behaves: MQTT over mutual TLS to the IoT endpoint with its key and its
 * certificate chain (the device certificate, then its CA, so IoT Core can register it), sending the
 * endpoint's host name as SNI. On its first connect IoT Core registers the certificate and closes
 * the connection without a CONNACK; the device retries with backoff until it is accepted.
 */
export interface DeviceIdentity {
  readonly clientId: string;
  /** The device certificate followed by its CA certificate. */
  readonly certificateChainPem: string;
  readonly privateKeyPem: string;
}

export interface Endpoint {
  /** Where to dial (the local stack listens on loopback). */
  readonly address: string;
  readonly port: number;
  /** The endpoint's host name, sent as SNI (IoT Core's `<prefix>-ats.iot.<region>.amazonaws.com`). */
  readonly serverName: string;
  /** The CA the endpoint's server certificate chains to. */
  readonly trustedCaPem: string;
}

export type ConnectOutcome =
  | { readonly kind: "accepted"; readonly session: DeviceSession }
  /** IoT Core's answer to a certificate it does not (yet) accept: the socket closes, no CONNACK. */
  | { readonly kind: "closed-without-connack" }
  | { readonly kind: "refused"; readonly reason: string };

export interface DeviceSession {
  /** Publishes at QoS 1: resolves on PUBACK, rejects when the broker ends the session instead. */
  publish(topic: string, payload: string): Promise<void>;
  /**
   * A request on IoT Core's request/answer pattern: subscribes to `<topic>/accepted` and
   * `<topic>/rejected` first, publishes, and resolves with the answer that comes.
   */
  ask(topic: string, payload: object, timeoutMs?: number): Promise<Answer>;
  /** Subscribes to a topic (QoS 1) and resolves with the next message on it, parsed as JSON. */
  nextMessage(topic: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves when the session ends, however it ends. */
  readonly closed: Promise<void>;
  readonly isConnected: () => boolean;
  end(): Promise<void>;
}

export interface Answer {
  readonly accepted: boolean;
  readonly body: Record<string, unknown>;
}

const CONNECT_TIMEOUT_MS = 10_000;
const ANSWER_TIMEOUT_MS = 15_000;

/** One CONNECT: accepted, closed without a CONNACK, or refused. */
export const connectOnce = (identity: DeviceIdentity, endpoint: Endpoint): Promise<ConnectOutcome> =>
  new Promise((resolve) => {
    const options: IClientOptions = {
      host: endpoint.address,
      port: endpoint.port,
      protocol: "mqtts",
      servername: endpoint.serverName,
      ca: endpoint.trustedCaPem,
      cert: identity.certificateChainPem,
      key: identity.privateKeyPem,
      clientId: identity.clientId,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: CONNECT_TIMEOUT_MS,
      keepalive: 30,
    };
    const client = mqtt.connect(options);
    let settled = false;
    const settle = (outcome: ConnectOutcome) => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    client.once("connect", () => settle({ kind: "accepted", session: sessionOf(client) }));
    client.once("error", (error) => {
      settle({ kind: "refused", reason: error.message });
      client.end(true);
    });
    client.once("close", () => settle({ kind: "closed-without-connack" }));
  });

const sessionOf = (client: MqttClient): DeviceSession => {
  const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
  /** The first message on one of `topics`, once subscribed; the subscription is made before `then` runs. */
  const first = async (topics: string[], timeoutMs: number, then?: () => Promise<void>) => {
    await client.subscribeAsync(topics, { qos: 1 });
    const message = new Promise<{ topic: string; body: Record<string, unknown> }>((resolve, reject) => {
      const onMessage = (topic: string, payload: Buffer) => {
        if (!topics.includes(topic)) return;
        clearTimeout(timer);
        client.removeListener("message", onMessage);
        resolve({ topic, body: JSON.parse(payload.toString("utf8")) as Record<string, unknown> });
      };
      const timer = setTimeout(() => {
        client.removeListener("message", onMessage);
        reject(new Error(`no message on ${topics.join(" or ")} within ${timeoutMs} ms`));
      }, timeoutMs);
      client.on("message", onMessage);
    });
    try {
      await then?.();
    } catch (error) {
      message.catch(() => undefined);
      throw error;
    }
    return message;
  };
  return {
    ask: async (topic, payload, timeoutMs = ANSWER_TIMEOUT_MS) => {
      const answer = await first([`${topic}/accepted`, `${topic}/rejected`], timeoutMs, async () => {
        await client.publishAsync(topic, JSON.stringify(payload), { qos: 1 });
      });
      return { accepted: answer.topic.endsWith("/accepted"), body: answer.body };
    },
    nextMessage: async (topic, timeoutMs = ANSWER_TIMEOUT_MS) => (await first([topic], timeoutMs)).body,
    publish: (topic, payload) =>
      new Promise((resolve, reject) => {
        const ended = () => reject(new Error(`session ended before ${topic} was acknowledged`));
        client.once("close", ended);
        client.publish(topic, payload, { qos: 1 }, (error) => {
          client.removeListener("close", ended);
          if (error) reject(error);
          else resolve();
        });
      }),
    closed,
    isConnected: () => client.connected,
    // Ending a session the broker already closed must not wait for a broker that is gone.
    end: () =>
      client.disconnected || client.disconnecting
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            client.end(false, {}, () => resolve());
            setTimeout(() => client.end(true, {}, () => resolve()), 2_000).unref();
          }),
  };
};

export interface Attempt {
  readonly at: number;
  readonly outcome: ConnectOutcome["kind"];
  readonly reason?: string;
}

export interface FirstConnection {
  /** The session, when one was accepted within the attempts. */
  readonly session?: DeviceSession;
  readonly attempts: readonly Attempt[];
  /** Milliseconds from the first CONNECT to the accepted one. */
  readonly elapsedMs: number;
}

/**
 * Connects until accepted, the way firmware retries: exponential backoff from `initialDelayMs`,
 * capped at `maxDelayMs`, for at most `maxAttempts` CONNECTs.
 */
export const connectWithRetries = async (
  identity: DeviceIdentity,
  endpoint: Endpoint,
  { maxAttempts = 20, initialDelayMs = 250, maxDelayMs = 4_000 } = {},
): Promise<FirstConnection> => {
  const started = Date.now();
  const attempts: Attempt[] = [];
  let delay = initialDelayMs;
  for (let attempt = 1; attempt <= maxAttempts; attempt += 1) {
    const outcome = await connectOnce(identity, endpoint);
    attempts.push({
      at: Date.now() - started,
      outcome: outcome.kind,
      ...(outcome.kind === "refused" ? { reason: outcome.reason } : {}),
    });
    if (outcome.kind === "accepted")
      return { session: outcome.session, attempts, elapsedMs: Date.now() - started };
    if (attempt < maxAttempts) await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(maxDelayMs, delay * 2);
  }
  return { attempts, elapsedMs: Date.now() - started };
};
