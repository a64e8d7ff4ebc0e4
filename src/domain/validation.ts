import { en } from "zod/locales";
import { config } from "zod/mini";

/**
 * Schemas use zod's small build, `zod/mini` (about 45 KB bundled, the full build about 740 KB: a
 * fifth of a function's bundle and of its cold start). It loads no messages of its own, so every
 * issue would read "Invalid input"; this gives it the English ones the full build has. Every
 * module that parses with a schema imports it. Import zod as `import * as z from "zod/mini"`:
 * esbuild then keeps only the functions a bundle calls.
 */
config(en());
