/**
 * Removes what looks like a secret from text that leaves the app (alerts, answers): values of
 * password/secret/token settings, credentials in URLs, `-p<password>` flags, AWS access key IDs
 * and long random-looking strings. Over-redaction is accepted; a leaked password is not.
 */
export const REDACTED = '[REDACTED]';

const SECRET_NAMES =
  '(?:[A-Za-z0-9_]*(?:password|passwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|signature)[A-Za-z0-9_]*|pgpassword|mysql_pwd|pwd)';

const RULES: readonly [RegExp, string][] = [
  // name=value, name: value, "name": "value", --name value
  [new RegExp(`(["']?\\b${SECRET_NAMES}["']?\\s*[:=]\\s*)("[^"]*"|'[^']*'|[^\\s,;&]+)`, 'gi'), `$1${REDACTED}`],
  [new RegExp(`(--${SECRET_NAMES}\\s+)(\\S+)`, 'gi'), `$1${REDACTED}`],
  // scheme://user:password@host
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]+@/gi, `$1${REDACTED}@`],
  // mysql -pPASSWORD (also hits -p5432 for a port: harmless)
  [/((?:^|\s)-p)(\S+)/g, `$1${REDACTED}`],
  // Authorization: Bearer xyz / Basic xyz
  [/(\bauthorization\s*[:=]\s*(?:bearer|basic)?\s*)(\S+)/gi, `$1${REDACTED}`],
  // AWS access key IDs
  [/\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g, REDACTED],
];

/** Runs of 32+ base64-ish characters: session tokens, generated secrets, signed blobs. */
const RANDOM_LOOKING = /[A-Za-z0-9+/=_-]{32,}/g;

/**
 * Random text mixes cases and digits throughout; object keys, paths and ARNs have few capitals
 * (a key's `T`/`Z` timestamp) and stay readable.
 */
function looksRandom(run: string): boolean {
  const count = (pattern: RegExp) => run.match(pattern)?.length ?? 0;
  return count(/[A-Z]/g) >= 5 && count(/[a-z]/g) >= 5 && count(/[0-9]/g) >= 2;
}

export function redactSecrets(text: string): string {
  let redacted = text;
  for (const [pattern, replacement] of RULES) {
    redacted = redacted.replace(pattern, replacement);
  }
  return redacted.replace(RANDOM_LOOKING, (run) => (looksRandom(run) ? REDACTED : run));
}
