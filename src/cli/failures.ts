import {
  AlreadyExistsError,
  ConflictError,
  IllegalTransitionError,
  NotFoundError,
  ValidationError,
} from "#domain/errors.js";

/**
 * Exit codes: scripts on the manufacturing line branch on them, so each means the same thing
 * whichever command gave it and whether the failure was found locally or by the API.
 */
export const EXIT = {
  ok: 0,
  failed: 1,
  invalid: 2,
  partial: 3,
  notFound: 4,
  conflict: 5,
  notAuthorised: 6,
  unreachable: 7,
} as const;

export type ExitName = keyof typeof EXIT;

/** What went wrong, as the CLI reports it: one line for people, or `{"error": {...}}` with --json. */
export interface Failure {
  readonly kind: ExitName;
  readonly message: string;
  readonly method?: string;
  readonly url?: string;
  readonly status?: number;
  /** The API's problem document, as it sent it. */
  readonly problem?: unknown;
  /** What the operator can do about it. */
  readonly hint?: string;
}

/** A failure the CLI found itself (no credentials, no route to the API, a bad option). */
export class CliError extends Error {
  constructor(readonly failure: Failure) {
    super(failure.message);
    this.name = "CliError";
  }
}

export const exitOf = (failure: Failure): number => EXIT[failure.kind];

/** The kind of an HTTP status: 401 and 403 are the credentials, never bad input. */
export const kindOfStatus = (status: number): ExitName => {
  if (status < 300) return "ok";
  if (status === 401 || status === 403) return "notAuthorised";
  if (status === 404) return "notFound";
  if (status === 409) return "conflict";
  if (status === 400 || status === 413 || status === 415 || status === 422) return "invalid";
  return "failed";
};

const HINTS: Partial<Record<ExitName, string>> = {
  notAuthorised:
    "the API refused these AWS credentials: check --profile (or AWS_PROFILE, AWS_ACCESS_KEY_ID) and that they may call execute-api:Invoke on this API",
  notFound: "check the id, and that --api-url (or FLEETGATE_API_URL) is the operations API's URL",
};

/** An API answer that is not a success, in the CLI's words. */
export const failureOfAnswer = (
  answer: {
    readonly status: number;
    readonly body: unknown;
    readonly url?: string;
    readonly method?: string;
  },
  kind: ExitName = kindOfStatus(answer.status),
): Failure => {
  const body = answer.body as { title?: unknown; detail?: unknown; message?: unknown } | string | undefined;
  const fields = typeof body === "object" && body !== null ? body : {};
  const title = typeof fields.title === "string" && fields.title ? fields.title : titleOf(kind);
  const detail = fields.detail ?? fields.message ?? (typeof body === "string" ? body : undefined);
  const hint = HINTS[kind];
  return {
    kind,
    message: `${answer.status} ${title}${detail === undefined ? "" : `: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`}`,
    status: answer.status,
    ...(answer.method ? { method: answer.method } : {}),
    ...(answer.url ? { url: answer.url } : {}),
    ...(answer.body === undefined ? {} : { problem: answer.body }),
    ...(hint ? { hint } : {}),
  };
};

const titleOf = (kind: ExitName): string =>
  ({
    ok: "ok",
    failed: "failed",
    invalid: "bad request",
    partial: "rejected",
    notFound: "not found",
    conflict: "conflict",
    notAuthorised: "not authorised",
    unreachable: "unreachable",
  })[kind];

// AWS's names for credentials that are missing, wrong, expired or denied (the direct table path).
const NOT_AUTHORISED_NAMES = new Set([
  "CredentialsProviderError",
  "AccessDenied",
  "AccessDeniedException",
  "UnrecognizedClientException",
  "InvalidClientTokenId",
  "InvalidSignatureException",
  "ExpiredToken",
  "ExpiredTokenException",
]);

// Node's codes for a peer that cannot be reached (refused, no such host, no route, timed out).
const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);

/** Whether the error, or an error it wraps, says so. */
const causedBy = (error: unknown, test: (cause: Error) => boolean): boolean => {
  for (let cause = error; cause instanceof Error; cause = cause.cause) if (test(cause)) return true;
  return false;
};

/** Any error thrown while running a command, in the CLI's words. */
export const failureOfError = (error: unknown): Failure => {
  if (error instanceof CliError) return error.failure;
  if (error instanceof ValidationError)
    return {
      kind: "invalid",
      message: error.issues.length > 0 ? `${error.message}: ${error.issues.join("; ")}` : error.message,
    };
  if ((error as NodeJS.ErrnoException).code === "ENOENT")
    return { kind: "invalid", message: `no such file: ${(error as NodeJS.ErrnoException).path}` };
  if (causedBy(error, (cause) => NOT_AUTHORISED_NAMES.has(cause.name)))
    return { kind: "notAuthorised", message: (error as Error).message, hint: HINTS.notAuthorised };
  if (causedBy(error, (cause) => UNREACHABLE_CODES.has((cause as NodeJS.ErrnoException).code ?? "")))
    return { kind: "unreachable", message: `cannot reach AWS: ${(error as Error).message}` };
  if (error instanceof NotFoundError) return { kind: "notFound", message: error.message };
  if (
    error instanceof ConflictError ||
    error instanceof AlreadyExistsError ||
    error instanceof IllegalTransitionError
  )
    return { kind: "conflict", message: error.message };
  return { kind: "failed", message: error instanceof Error ? error.message : String(error) };
};
