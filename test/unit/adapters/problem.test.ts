import { describe, expect, it } from "vitest";
import { toDomainError } from "#adapters/aws-errors.js";
import { problemFor } from "#adapters/http/problem.js";
import { NotFoundError } from "#domain/errors.js";

describe("problemFor", () => {
  it("answers the caller's own unknown resource 404 with its text", () => {
    expect(problemFor(new NotFoundError("device sensor-1 does not exist"))).toMatchObject({
      status: 404,
      detail: "device sensor-1 does not exist",
    });
  });

  it("answers a dependency's not-found that reached the API as an internal error, without AWS's words", () => {
    const missingTable = Object.assign(new Error("Requested resource not found"), {
      name: "ResourceNotFoundException",
    });
    const problem = problemFor(toDomainError(missingTable, "GetItem"));
    expect(problem).toMatchObject({ status: 500, detail: "an unexpected error occurred" });
    expect(JSON.stringify(problem)).not.toMatch(/ResourceNotFound|GetItem/);
  });
});
