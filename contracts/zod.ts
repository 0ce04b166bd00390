/**
 * The schema library of the contracts and the functions: zod's tree-shakable `zod/mini` (the
 * classic `zod` is about 430 KB of every function bundle and 45 ms of its start), with the
 * English messages the classic one loads by itself, so an error names the field and says why.
 * Import it as a namespace (`import * as z from '.../contracts/zod'`): bindings re-exported one
 * by one, so a bundle keeps only the parts it uses (a namespace object re-exported whole would
 * carry every locale).
 */
import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

config(en());

export * from 'zod/mini';
// The error class alone (`z.core` whole would pull all of zod's core into a bundle).
export { $ZodError } from 'zod/v4/core';
