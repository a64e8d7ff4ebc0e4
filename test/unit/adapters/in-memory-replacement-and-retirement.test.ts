import { replacementAndRetirementContract } from "#test/contract/replacement-and-retirement.js";
import { InMemoryLifecycleStore } from "#test/support/in-memory-store.js";

// The store the use-case tests run on keeps the deployed store's promises (test/contract/).
replacementAndRetirementContract("in memory", async () => new InMemoryLifecycleStore());
