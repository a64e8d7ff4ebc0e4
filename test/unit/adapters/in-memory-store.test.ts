import { lifecycleStoreContract } from "#test/contract/lifecycle-store.js";
import { InMemoryLifecycleStore } from "#test/support/in-memory-store.js";

// The store the use-case tests run on keeps the deployed store's promises (test/contract/).
lifecycleStoreContract("in memory", async () => new InMemoryLifecycleStore());
