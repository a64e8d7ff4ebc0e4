import { ConcurrentUpdateError } from "#domain/errors.js";

/**
 * What a use case does when its conditional write lost to another writer (ConcurrentUpdateError):
 * wait a random moment, then read and decide again, up to `attempts` times in all. Anything else,
 * or one lost race too many, is thrown. The wait keeps two copies of one request (the same event
 * twice in a batch) from colliding the same way on every attempt.
 */
export const afterLostRace = async (error: unknown, attempt: number, attempts: number): Promise<void> => {
  if (!(error instanceof ConcurrentUpdateError) || attempt >= attempts) throw error;
  await new Promise((resolve) => setTimeout(resolve, Math.random() * 50 * attempt));
};
