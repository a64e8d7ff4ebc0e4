import {
  AlreadyExistsError,
  ConcurrentUpdateError,
  ConflictError,
  DependencyRejectedError,
  DependencyUnavailableError,
  type DomainError,
  IllegalTransitionError,
  NotFoundError,
  ThrottledError,
  ValidationError,
} from "#domain/errors.js";

/** An RFC 9457 problem document, the body of every error answer. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  /** For validation problems: one line per field, naming it. */
  readonly errors?: readonly string[];
}

const TYPE_BASE = "https://fleetgate.dev/problems/";

/** Errors the caller may read about; anything else is a 500 with no detail (it is logged instead). */
const KNOWN: [new (...args: never[]) => DomainError, number, string][] = [
  [ValidationError, 400, "invalid-request"],
  [NotFoundError, 404, "not-found"],
  [IllegalTransitionError, 409, "illegal-transition"],
  [AlreadyExistsError, 409, "conflict"],
  [ConflictError, 409, "conflict"],
  [ConcurrentUpdateError, 409, "concurrent-update"],
  [ThrottledError, 503, "throttled"],
  [DependencyUnavailableError, 503, "dependency-unavailable"],
  [DependencyRejectedError, 502, "dependency-rejected"],
];

const INTERNAL: Problem = {
  type: `${TYPE_BASE}internal`,
  title: "internal error",
  status: 500,
  detail: "an unexpected error occurred",
};

export const problemFor = (error: unknown): Problem => {
  // A dependency's own not-found (it carries the AWS error as its cause: a missing table, a
  // resource the use case did not expect to lose) is not the caller's 404, and its words are AWS's.
  if (error instanceof NotFoundError && error.cause !== undefined) return INTERNAL;
  for (const [kind, status, slug] of KNOWN) {
    if (error instanceof kind) {
      return {
        type: `${TYPE_BASE}${slug}`,
        title: slug.replace(/-/g, " "),
        status,
        // Dependency failures name AWS internals: keep those in the logs.
        detail: status >= 500 ? "a dependency failed; retry later" : error.message,
        ...(error instanceof ValidationError && error.issues.length > 0 ? { errors: error.issues } : {}),
      };
    }
  }
  return INTERNAL;
};
