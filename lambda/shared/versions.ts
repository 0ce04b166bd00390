import { ListObjectVersionsCommand, type S3Client } from '@aws-sdk/client-s3';
import { manifestKeyFor } from '../../contracts/manifest';

/**
 * Backups and manifests are written once: the first version of a key is the one the backup script
 * wrote, and any later version was written over it. Readers therefore pin the first version
 * (and verification fails a key that holds more than one).
 */

export interface StoredVersion {
  readonly versionId: string;
  readonly lastModified: Date | undefined;
  readonly size: number | undefined;
}

export interface KeyVersions {
  /** Every version of the key, oldest first. */
  readonly versions: readonly StoredVersion[];
  /** Delete markers on the key (the object is then hidden from readers by key, not gone). */
  readonly deleteMarkers: number;
}

export interface BackupVersions {
  readonly backup: KeyVersions;
  readonly manifest: KeyVersions;
}

const EMPTY: KeyVersions = { versions: [], deleteMarkers: 0 };

/** The versions of a backup key and of its manifest, from one listing (the manifest key extends the backup key). */
export async function backupVersions(s3: S3Client, bucket: string, key: string): Promise<BackupVersions> {
  const manifestKey = manifestKeyFor(key);
  const found = new Map<string, { versions: StoredVersion[]; deleteMarkers: number }>([
    [key, { versions: [], deleteMarkers: 0 }],
    [manifestKey, { versions: [], deleteMarkers: 0 }],
  ]);
  let keyMarker: string | undefined;
  let versionIdMarker: string | undefined;
  do {
    const page = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key, KeyMarker: keyMarker, VersionIdMarker: versionIdMarker }));
    for (const version of page.Versions ?? []) {
      const entry = version.Key === undefined ? undefined : found.get(version.Key);
      if (entry && version.VersionId) entry.versions.push({ versionId: version.VersionId, lastModified: version.LastModified, size: version.Size });
    }
    for (const marker of page.DeleteMarkers ?? []) {
      const entry = marker.Key === undefined ? undefined : found.get(marker.Key);
      if (entry) entry.deleteMarkers += 1;
    }
    keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    versionIdMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
  } while (keyMarker !== undefined);
  // S3 lists the versions of a key newest first (their times may tie within a second).
  const oldestFirst = (entry: { versions: StoredVersion[]; deleteMarkers: number } | undefined): KeyVersions =>
    entry ? { versions: [...entry.versions].reverse(), deleteMarkers: entry.deleteMarkers } : EMPTY;
  return { backup: oldestFirst(found.get(key)), manifest: oldestFirst(found.get(manifestKey)) };
}

/** The version a reader trusts: the first one written. */
export function firstVersion(versions: KeyVersions): StoredVersion | undefined {
  return versions.versions[0];
}

/** Why a backup's versions are not those of a backup written once, or undefined when they are. */
export function overwrittenProblem(found: BackupVersions): string | undefined {
  const problems = [
    found.backup.versions.length > 1 ? `the backup key holds ${found.backup.versions.length} versions` : undefined,
    found.manifest.versions.length > 1 ? `the manifest key holds ${found.manifest.versions.length} versions` : undefined,
  ].filter((problem): problem is string => problem !== undefined);
  return problems.length > 0 ? `${problems.join(' and ')}: written over after the backup (only the first version of each is trusted)` : undefined;
}
