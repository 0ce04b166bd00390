/**
 * Recovery objectives: the most data a restore may lose (RPO: the age of the newest backup it
 * can use) and the longest a restore may take (RTO: what the drills measure). The defaults are the
 * seeds' practice: databases a day's data and two hours; files a day's data and four hours.
 * Pure: shared by the config, the status command and the evidence report.
 */

export interface RecoveryObjectives {
  readonly rpoHours: number;
  readonly rtoHours: number;
}

/** What a protected thing holds, for its default objectives. */
export type ObjectiveClass = 'database' | 'files';

export const DEFAULT_OBJECTIVES: Readonly<Record<ObjectiveClass, RecoveryObjectives>> = {
  database: { rpoHours: 24, rtoHours: 2 },
  files: { rpoHours: 24, rtoHours: 4 },
};

/** A backup target's kind (postgres, mysql, sqlite, files) or a managed resource's (rds, aurora, s3, dynamodb, efs), as an objective class. */
export function objectiveClassOf(kind: string): ObjectiveClass {
  return kind === 'files' || kind === 's3' || kind === 'efs' ? 'files' : 'database';
}

/** The configured objectives over the defaults of the kind. */
export function objectivesFor(kind: string, configured: Partial<RecoveryObjectives> | undefined): RecoveryObjectives {
  return { ...DEFAULT_OBJECTIVES[objectiveClassOf(kind)], ...(configured?.rpoHours !== undefined ? { rpoHours: configured.rpoHours } : {}), ...(configured?.rtoHours !== undefined ? { rtoHours: configured.rtoHours } : {}) };
}
