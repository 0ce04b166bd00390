import type { CheckName } from '../../contracts/verdict';

/** What the on-call engineer does next when a check fails, per check; docs/verification.md says the same. */
export const NEXT_STEP: Record<CheckName, string> = {
  object:
    'The backup object cannot be read. Check that it exists (it may have expired or been archived) and that the verify role may read it and decrypt with the backup key; then run the verification again with { "key": "<key>" }.',
  versions:
    'A backup or manifest key holds more than one version: backups are written once, so a later version was written over it (a compromised instance, or a hand-made upload). Only the first version was verified and only it is ever restored. Find who wrote the later version (CloudTrail data events, the access logs), treat that instance as compromised, and take a new backup from a clean one.',
  manifest:
    'The backup did not finish: the backup script writes the manifest last and only on success. Read the Run Command output of the last backup of this target, fix the cause, and take a manual backup (backup trigger with { "tier": "manual", "target": "<target>" }). Do not restore from this object.',
  lock:
    'The backup version is not locked as its tier requires (no retention, another mode, or an earlier retain-until date than its manifest states): something between the instance and S3 dropped or changed the lock the upload asked for, or the bucket was made without Object Lock. The data is intact but can be deleted early. Check the bucket\'s Object Lock configuration and any proxy or endpoint the instance uploads through (its AWS_ENDPOINT_URL, a VPC endpoint policy), then take a manual backup and verify it. An account administrator can extend the retention of this version (PutObjectRetention) until the tier\'s date.',
  integrity:
    'The stored object is not what the backup script wrote (size or SHA-256 differ). Do not restore from it. Check CloudTrail and the access logs for writes to this key, take a new backup now, and restore from the newest backup whose verdict passed if you need one.',
  decompression:
    'The gzip stream is damaged (truncated or corrupt). Do not restore from it. Take a new backup now; check the instance for a full disk or an interrupted upload in the Run Command output.',
  format:
    'The dump inside is not a complete, readable dump of its kind. Do not restore from it. Take a new backup now and read the dump tool errors in the Run Command output; restore from the newest backup whose verdict passed if needed.',
  content:
    'The dump is well formed, but it is not the dump the backup script read from the source: its content digest (taken before compression) differs. The data was changed between reading and storing (faulty memory or compressor on the instance), or object and manifest were made together by someone other than the script. Do not restore from it. Take a new backup now, check the instance (dmesg for memory errors, the Run Command output), and restore from the newest backup whose verdict passed if you need one.',
  age:
    'No new verified backup arrived in time. Check the backup schedule and the last Run Command of this target (did it run, did it fail?), then take a manual backup and verify it.',
  size:
    'The backup size jumped or dropped against the previous backups. Compare its manifest (table and row counts, file counts) with the previous one: a drop often means missing tables or files or a dump that stopped early, a jump a runaway table or log. Restore-test it if in doubt.',
  replica:
    'The copy in the DR bucket is missing or differs. Check the replication metrics (OperationsFailedReplication) and the rule replicate-all-backups, and the replica key policy; re-copy failed objects with S3 Batch Replication.',
};
