import { randomUUID } from "node:crypto";
import type { FunctionModule } from "./bundle.js";
import type { Message, SimQueue } from "./queue.js";
import { sleep } from "./virtual-time.js";

/**
 * Lambda's SQS event source: `pollers` concurrent invocations at most (maximumConcurrency), each
 * receiving up to `batchSize` messages (waiting up to the batching window for a full batch),
 * invoking its container with them and the function's timeout, then deleting the messages the
 * function did not report as failed. A failed record, a thrown error or a timeout leaves the
 * messages to come back after the visibility timeout; a timeout also ends the container (Lambda
 * restarts the runtime: its pending calls never complete) and the next invocation starts a new one.
 */
export interface EventSourceOptions {
  readonly functionName: string;
  readonly pollers: number;
  readonly batchSize: number;
  readonly windowMs: number;
  readonly timeoutMs: number;
  /** One ReceiveMessage round trip. */
  readonly receiveLatencyMs: number;
  /** A new container's initialisation (virtual; the import itself runs for real). */
  readonly coldStartMs: number;
}

export interface InvocationStats {
  invocations: number;
  recordsFailed: number;
  timeouts: number;
  errors: number;
  containers: number;
  maxRecordsInFlight: number;
}

export interface Containers {
  load(id: string): Promise<FunctionModule>;
  freeze(id: string): void;
}

export class SqsEventSource {
  readonly stats: InvocationStats = {
    invocations: 0,
    recordsFailed: 0,
    timeouts: 0,
    errors: 0,
    containers: 0,
    maxRecordsInFlight: 0,
  };
  private stopped = false;
  private recordsInFlight = 0;

  constructor(
    private readonly queue: SimQueue,
    private readonly options: EventSourceOptions,
    private readonly containers: Containers,
  ) {}

  start(): void {
    for (let i = 0; i < this.options.pollers; i += 1) void this.poll(i);
  }

  stop(): void {
    this.stopped = true;
  }

  private async poll(poller: number): Promise<void> {
    let container: { id: string; module: FunctionModule } | undefined;
    let generation = 0;
    while (!this.stopped) {
      await this.queue.waitVisible(20_000);
      if (this.stopped) return;
      // The batching window: a full batch, or what is there when the window closes.
      const windowEnds = Date.now() + this.options.windowMs;
      while (this.queue.visibleCount < this.options.batchSize && Date.now() < windowEnds)
        await this.queue.waitChange(windowEnds - Date.now());
      await sleep(this.options.receiveLatencyMs);
      const messages = this.queue.receive(this.options.batchSize);
      if (messages.length === 0) continue;
      if (!container) {
        const id = `${this.options.functionName}-${poller}-${generation}`;
        await sleep(this.options.coldStartMs);
        container = { id, module: await this.containers.load(id) };
        this.stats.containers += 1;
      }
      const outcome = await this.invoke(container.module, messages);
      if (outcome === "timeout") {
        this.containers.freeze(container.id);
        container = undefined;
        generation += 1;
      }
    }
  }

  private async invoke(module: FunctionModule, messages: Message[]): Promise<"ok" | "timeout" | "error"> {
    this.stats.invocations += 1;
    this.recordsInFlight += messages.length;
    this.stats.maxRecordsInFlight = Math.max(this.stats.maxRecordsInFlight, this.recordsInFlight);
    const end = Date.now() + this.options.timeoutMs;
    const context = {
      functionName: this.options.functionName,
      awsRequestId: randomUUID(),
      getRemainingTimeInMillis: () => end - Date.now(),
    };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), this.options.timeoutMs);
    });
    const answered = module.handler({ Records: messages.map((m) => this.queue.record(m)) }, context).then(
      (answer) => ({ answer }),
      (error: unknown) => ({ error }),
    );
    const result = await Promise.race([answered, timedOut]);
    clearTimeout(timer);
    this.recordsInFlight -= messages.length;
    if (result === "timeout") {
      this.stats.timeouts += 1;
      return "timeout";
    }
    if ("error" in result) {
      this.stats.errors += 1;
      return "error";
    }
    const failed = new Set(
      ((result.answer as { batchItemFailures?: { itemIdentifier: string }[] })?.batchItemFailures ?? []).map(
        (f) => f.itemIdentifier,
      ),
    );
    this.stats.recordsFailed += failed.size;
    for (const message of messages) if (!failed.has(message.messageId)) this.queue.delete(message);
    return "ok";
  }
}
