/**
 * Settings too large for Lambda's 4 KB environment (the targets of a large estate) travel in the
 * function's code bundle instead: a JSON object of name → value in `file`, beside the handler, and
 * the environment variable `namesEnv` lists the names it holds. The function reads them as if they
 * were environment variables; everything else stays in the environment.
 */
export const BUNDLED_SETTINGS = {
  file: 'bundled-settings.json',
  namesEnv: 'BUNDLED_SETTINGS',
} as const;

/** Lambda refuses a function whose environment variables (names and values) exceed 4 KB in all. */
export const LAMBDA_ENVIRONMENT_LIMIT_BYTES = 4096;
