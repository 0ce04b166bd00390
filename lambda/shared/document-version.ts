import { DescribeDocumentCommand, GetDocumentCommand, ListDocumentVersionsCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { documentContentSha256 } from '../../contracts/backup-command';
import type { Logger } from './powertools';
import { withThrottlingRetry, type RetryOptions } from './retry';

/** What pinning a document version needs: the document, the SHA-256 of the content this deployment embedded. */
export interface DocumentPinDeps {
  readonly ssm: SSMClient;
  readonly logger: Logger;
  readonly settings: { readonly documentName: string; readonly documentSha256: string };
  readonly retry?: Pick<RetryOptions, 'sleep' | 'random' | 'attempts'>;
}

/** The document version this deployment created could not be found: nothing was sent. */
export class DocumentVersionError extends Error {
  override readonly name = 'DocumentVersionError';
}

/** How many of the newest document versions are searched for the deployed content. */
const VERSIONS_SEARCHED = 10;

/**
 * The version of the document whose content is the one this deployment embedded. Normally the
 * default version (CloudFormation makes each new version the default); if someone moved the
 * default, the newest versions are searched. Pinning the number per command means a document
 * update mid-run cannot change what runs, and every command records exactly which scripts ran.
 */
export async function pinnedDocumentVersion(deps: DocumentPinDeps): Promise<string> {
  const { ssm, settings, logger } = deps;
  const call = <T>(operation: () => Promise<T>) => withThrottlingRetry(operation, backoffOptions(deps));
  const described = await call(() => ssm.send(new DescribeDocumentCommand({ Name: settings.documentName })));
  const defaultVersion = described.Document?.DefaultVersion;
  if (defaultVersion && (await versionHoldsDeployedContent(defaultVersion, deps))) return defaultVersion;

  const versions: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await call(() => ssm.send(new ListDocumentVersionsCommand({ Name: settings.documentName, NextToken: nextToken })));
    versions.push(...(page.DocumentVersions ?? []).flatMap((entry) => (entry.DocumentVersion ? [entry.DocumentVersion] : [])));
    nextToken = page.NextToken;
  } while (nextToken);
  const newestFirst = versions.filter((candidate) => candidate !== defaultVersion).sort((a, b) => Number(b) - Number(a));
  for (const candidate of newestFirst.slice(0, VERSIONS_SEARCHED)) {
    if (await versionHoldsDeployedContent(candidate, deps)) {
      logger.warn('the default version of the document is not the deployed one; pinning the deployed version', {
        documentName: settings.documentName,
        defaultVersion,
        pinnedVersion: candidate,
      });
      return candidate;
    }
  }
  throw new DocumentVersionError(
    `no version of document ${settings.documentName} holds the content this function was deployed with (sha256 ${settings.documentSha256}); is a deployment in progress, or was the document edited outside CloudFormation? Nothing was sent.`,
  );
}

async function versionHoldsDeployedContent(version: string, deps: DocumentPinDeps): Promise<boolean> {
  const { ssm, settings } = deps;
  const document = await withThrottlingRetry(
    () => ssm.send(new GetDocumentCommand({ Name: settings.documentName, DocumentVersion: version, DocumentFormat: 'JSON' })),
    backoffOptions(deps),
  );
  if (!document.Content) return false;
  try {
    return documentContentSha256(JSON.parse(document.Content)) === settings.documentSha256;
  } catch {
    return false;
  }
}

function backoffOptions(deps: Pick<DocumentPinDeps, 'retry'>): RetryOptions {
  return { attempts: 6, baseDelayMs: 500, maxDelayMs: 8000, ...deps.retry };
}
