// What `fleetgate claim` runs with the operator's credentials: the claim use cases over the
// deployment's IoT Core and lifecycle table.

export { createClaim, listClaims, revokeClaim } from "#app/claims.js";
export { claimStack } from "#cli/claims.js";
