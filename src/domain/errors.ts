/**
 * The domain's errors. Adapters translate AWS failures into these, use cases raise them, and the
 * edges (Lambda handlers, CLI, HTTP) map them to answers in one place.
 */
export abstract class DomainError extends Error {
  abstract readonly code: string;
  /** Whether trying again later may succeed (throttling, a lost race, a passing outage). */
  readonly transient: boolean = false;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Another system has not caught up yet (IoT Core applying a template): the same work succeeds shortly. */
export class NotReadyError extends DomainError {
  readonly code = "NOT_READY";
  override readonly transient = true;
}

export class NotFoundError extends DomainError {
  readonly code = "NOT_FOUND";
}

export class AlreadyExistsError extends DomainError {
  readonly code = "ALREADY_EXISTS";
}

/** An optimistic-concurrency check failed: someone else changed the item first. */
export class ConcurrentUpdateError extends DomainError {
  readonly code = "CONCURRENT_UPDATE";
  override readonly transient = true;
}

export class ThrottledError extends DomainError {
  readonly code = "THROTTLED";
  override readonly transient = true;
}

/** A dependency failed in a way that may pass (5xx, network, timeout). */
export class DependencyUnavailableError extends DomainError {
  readonly code = "DEPENDENCY_UNAVAILABLE";
  override readonly transient = true;
}

/** A dependency refused the request for good (bad input, state it will not accept). */
export class DependencyRejectedError extends DomainError {
  readonly code = "DEPENDENCY_REJECTED";
}

/** The request contradicts what was recorded before (a batch registered under another CA). */
export class ConflictError extends DomainError {
  readonly code = "CONFLICT";
}

export class IllegalTransitionError extends DomainError {
  readonly code = "ILLEGAL_TRANSITION";
}

export class ValidationError extends DomainError {
  readonly code = "VALIDATION";
  constructor(
    message: string,
    readonly issues: readonly string[] = [],
  ) {
    super(message);
  }
}

/** Our side is misconfigured (a missing grant, a bad setting): never a verdict on a device. */
export class ConfigurationError extends DomainError {
  readonly code = "CONFIGURATION";
}
