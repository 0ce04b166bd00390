import { ConfigError, loadConfig } from '../../lib/config/config';

/** The message of the ConfigError `input` is refused with; throws when it loads, or fails otherwise. */
export function configErrorOf(input: unknown): string {
  try {
    loadConfig(input);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('expected the config to be rejected, but it loaded');
}
