import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLED_SETTINGS } from '../../contracts/bundled-settings';

/**
 * The function's environment: its variables, plus the settings its bundle carries because they
 * were too large for Lambda's environment (contracts/bundled-settings.ts). Read once.
 */
export function houseEnvironment(env: NodeJS.ProcessEnv = process.env, dir: string = env.LAMBDA_TASK_ROOT ?? __dirname): NodeJS.ProcessEnv {
  const names = (env[BUNDLED_SETTINGS.namesEnv] ?? '').split(',').filter((name) => name !== '');
  if (names.length === 0) return env;
  const path = join(dir, BUNDLED_SETTINGS.file);
  let bundled: unknown;
  try {
    bundled = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`${BUNDLED_SETTINGS.namesEnv} names ${names.join(', ')}, but ${path} cannot be read: ${(error as Error).message}`);
  }
  const settings: NodeJS.ProcessEnv = { ...env };
  for (const name of names) {
    const value = (bundled as Record<string, unknown> | null)?.[name];
    if (typeof value !== 'string') throw new Error(`${path} holds no setting ${name}, which ${BUNDLED_SETTINGS.namesEnv} names`);
    settings[name] = value;
  }
  return settings;
}

let cached: NodeJS.ProcessEnv | undefined;
/** houseEnvironment() of this process, read once. */
function processEnvironment(): NodeJS.ProcessEnv {
  return (cached ??= houseEnvironment());
}

/** Reads a required environment variable once; throws naming it when it is missing or empty. */
export function requireEnv(name: string, env: NodeJS.ProcessEnv = processEnvironment()): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') {
    throw new Error(`environment variable ${name} is required but not set`);
  }
  return value;
}

/** Reads an optional environment variable; `fallback` when unset or empty. */
export function optionalEnv(name: string, fallback: string, env: NodeJS.ProcessEnv = processEnvironment()): string {
  const value = env[name];
  return value === undefined || value.trim() === '' ? fallback : value;
}

/** Reads a required environment variable holding JSON. */
export function requireJsonEnv<T = unknown>(name: string, env: NodeJS.ProcessEnv = processEnvironment()): T {
  const raw = requireEnv(name, env);
  try {
    return JSON.parse(raw) as T;
  } catch (error) {
    throw new Error(`environment variable ${name} is not valid JSON: ${(error as Error).message}`);
  }
}
