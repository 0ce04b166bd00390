import { createHash, createHmac } from 'node:crypto';

/**
 * An IAM database authentication token: a SigV4-presigned `rds-db:connect` request, valid 15
 * minutes, which the database takes as the password. Written here with node:crypto (what
 * `@aws-sdk/rds-signer` does; the tests compare the two) so the function depends on no SDK
 * package the Lambda runtime may lack or carry in another version.
 */

export interface SigningCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string | undefined;
}

export interface TokenRequest {
  readonly hostname: string;
  readonly port: number;
  readonly username: string;
  readonly region: string;
  readonly credentials: SigningCredentials;
  /** @default - now */
  readonly now?: Date;
}

const TOKEN_LIFETIME_SECONDS = 900;

/** RFC 3986 encoding, as SigV4 wants it (encodeURIComponent leaves !'()* alone). */
function encode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`);
}

const sha256 = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

export function databaseAuthToken(request: TokenRequest): string {
  const time = (request.now ?? new Date()).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = time.slice(0, 8);
  const scope = `${day}/${request.region}/rds-db/aws4_request`;
  const host = `${request.hostname}:${request.port}`;
  const query: Record<string, string> = {
    Action: 'connect',
    DBUser: request.username,
    'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
    'X-Amz-Credential': `${request.credentials.accessKeyId}/${scope}`,
    'X-Amz-Date': time,
    'X-Amz-Expires': String(TOKEN_LIFETIME_SECONDS),
    ...(request.credentials.sessionToken ? { 'X-Amz-Security-Token': request.credentials.sessionToken } : {}),
    'X-Amz-SignedHeaders': 'host',
  };
  const canonicalQuery = Object.keys(query)
    .sort()
    .map((name) => `${encode(name)}=${encode(query[name] ?? '')}`)
    .join('&');
  // A presigned request has no body: its payload hash is that of the empty string.
  const canonicalRequest = ['GET', '/', canonicalQuery, `host:${host}`, '', 'host', sha256('')].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', time, scope, sha256(canonicalRequest)].join('\n');
  const signingKey = ['rds-db', 'aws4_request'].reduce((key, part) => hmac(key, part), hmac(hmac(`AWS4${request.credentials.secretAccessKey}`, day), request.region));
  const signature = createHmac('sha256', signingKey).update(stringToSign, 'utf8').digest('hex');
  return `${host}/?${canonicalQuery}&X-Amz-Signature=${signature}`;
}

/** The function's own credentials, which Lambda puts in its environment. */
export function credentialsFromEnvironment(env: NodeJS.ProcessEnv = process.env): SigningCredentials {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) throw new Error('no AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) to sign a database token with');
  return { accessKeyId, secretAccessKey, sessionToken: env.AWS_SESSION_TOKEN };
}
