import {
  AlreadyExistsError,
  ConcurrentUpdateError,
  ConfigurationError,
  DependencyRejectedError,
  DependencyUnavailableError,
  DomainError,
  NotFoundError,
  ThrottledError,
} from "#domain/errors.js";

const THROTTLING = new Set([
  "ThrottlingException",
  "Throttling",
  "TooManyRequestsException",
  "ProvisionedThroughputExceededException",
  "RequestLimitExceeded",
  "LimitExceededException",
  "SlowDown",
]);
const NOT_FOUND = new Set(["ResourceNotFoundException", "NoSuchKey", "NoSuchBucket", "NotFound"]);
const ALREADY_EXISTS = new Set(["ResourceAlreadyExistsException"]);
const CONFLICT = new Set([
  "ConditionalCheckFailedException",
  "TransactionConflictException",
  "VersionConflictException",
]);
// Refusals for good: retrying the same request cannot succeed.
const REJECTED = new Set([
  "InvalidRequestException",
  "CertificateStateException",
  "CertificateValidationException",
  "ValidationException",
  "MalformedPolicyException",
  "DeleteConflictException",
]);
// Our own configuration, never a verdict on a device: a missing grant, a wrong key or account.
const NOT_AUTHORISED = new Set([
  "AccessDeniedException",
  "AccessDenied",
  "UnauthorizedException",
  "UnrecognizedClientException",
  "InvalidClientTokenId",
  "ExpiredTokenException",
]);

/**
 * Maps an AWS SDK error onto the domain's errors, keeping the original as `cause`. Whatever is not
 * known to be permanent is treated as transient: retrying a permanent error costs a redelivery,
 * dropping a transient one loses a device.
 */
export const toDomainError = (error: unknown, operation: string): DomainError => {
  if (error instanceof DomainError) return error;
  const name = (error as { name?: string } | undefined)?.name ?? "UnknownError";
  const message = `${operation}: ${name}: ${(error as Error | undefined)?.message ?? String(error)}`;
  if (THROTTLING.has(name)) return new ThrottledError(message, { cause: error });
  if (NOT_FOUND.has(name)) return new NotFoundError(message, { cause: error });
  if (ALREADY_EXISTS.has(name)) return new AlreadyExistsError(message, { cause: error });
  if (CONFLICT.has(name)) return new ConcurrentUpdateError(message, { cause: error });
  if (NOT_AUTHORISED.has(name)) return new ConfigurationError(message, { cause: error });
  if (REJECTED.has(name)) return new DependencyRejectedError(message, { cause: error });
  return new DependencyUnavailableError(message, { cause: error });
};

/** Runs one AWS call and translates its failure. */
export const call = async <T>(operation: string, run: () => Promise<T>): Promise<T> => {
  try {
    return await run();
  } catch (error) {
    throw toDomainError(error, operation);
  }
};
