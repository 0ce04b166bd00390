import { objectivesFor } from '../../../contracts/objectives';
import type { EvidenceTarget } from '../../../contracts/evidence-report';
import { cronLongestGapHours } from '../../../contracts/cron';
import type { BackupKitConfig, ConfigIssue } from '../config';
import { tiersOfTarget } from './targets';

export { objectivesSchema, type ObjectivesConfig } from './objectives-schema';

/**
 * Recovery objectives in the config: per backup target, RDS instance or cluster, and AWS Backup
 * class, each field defaulting to the seeds' practice for what it holds (contracts/objectives.ts).
 * An RPO no schedule can keep fails synth, naming both fields.
 */
const hours = (value: number) => `${Math.round(value * 100) / 100} h`;

export function objectivesIssues(config: BackupKitConfig): { errors: ConfigIssue[]; warnings: ConfigIssue[] } {
  const errors: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const tierNames = Object.keys(config.tiers);
  config.targets.forEach((target, index) => {
    const { rpoHours } = objectivesFor(target.kind, target.objectives);
    const scheduled = tiersOfTarget(target, tierNames).flatMap((tier) => {
      const schedule = config.tiers[tier]?.schedule;
      return schedule === undefined ? [] : [{ tier, schedule, gap: cronLongestGapHours(schedule) }];
    });
    const path = ['targets', index, 'objectives', 'rpoHours'];
    if (scheduled.length === 0) {
      warnings.push({ path, message: `target '${target.name}' is in no scheduled tier, so only manual backups keep its RPO of ${hours(rpoHours)}` });
      return;
    }
    const known = scheduled.filter((entry): entry is typeof entry & { gap: number } => entry.gap !== undefined);
    const tightest = known.sort((a, b) => a.gap - b.gap)[0];
    if (!tightest) {
      warnings.push({ path, message: `the schedules of target '${target.name}' (${scheduled.map((entry) => `tiers.${entry.tier}.schedule`).join(', ')}) use forms whose gaps are not computed here (L, W, #, a year): its RPO of ${hours(rpoHours)} is not checked against them` });
      return;
    }
    if (rpoHours < tightest.gap) {
      errors.push({
        path,
        message: `${hours(rpoHours)}${target.objectives?.rpoHours === undefined ? ` (the default for a ${target.kind} target)` : ''} is shorter than the longest gap between backups of target '${target.name}' in its most frequent tier (tiers.${tightest.tier}.schedule '${tightest.schedule}': ${hours(tightest.gap)}): a restore could lose more than the RPO allows. Back it up more often or raise the RPO`,
      });
    }
  });
  for (const [className, backupClass] of Object.entries(config.awsBackup.classes)) {
    const objectives = backupClass.objectives;
    if (objectives?.rpoHours === undefined) continue;
    const rules = Object.entries(backupClass.rules).map(([name, rule]) => ({ name, schedule: rule.schedule, gap: rule.continuous ? 0 : cronLongestGapHours(rule.schedule) }));
    const tightest = rules.filter((rule): rule is typeof rule & { gap: number } => rule.gap !== undefined).sort((a, b) => a.gap - b.gap)[0];
    if (tightest && objectives.rpoHours < tightest.gap) {
      errors.push({
        path: ['awsBackup', 'classes', className, 'objectives', 'rpoHours'],
        message: `${hours(objectives.rpoHours)} is shorter than the longest gap between recovery points of its most frequent rule (awsBackup.classes.${className}.rules.${tightest.name}.schedule '${tightest.schedule}': ${hours(tightest.gap)}): add a more frequent or continuous rule, or raise the RPO`,
      });
    }
  }
  return { errors, warnings };
}

/**
 * Each backup target as the status command and the evidence report see it: its tiers with their
 * schedules, its objectives (defaults filled in), and whether the drills take it.
 */
export function objectiveTargets(config: BackupKitConfig): EvidenceTarget[] {
  const tierNames = Object.keys(config.tiers);
  return config.targets.map((target) => ({
    name: target.name,
    kind: target.kind,
    tiers: tiersOfTarget(target, tierNames).map((tier) => {
      const schedule = config.tiers[tier]?.schedule;
      return { tier, ...(schedule !== undefined ? { schedule } : {}) };
    }),
    objectives: objectivesFor(target.kind, target.objectives),
    drilled: config.restore.drills.enabled && (config.restore.targets[target.name]?.drill ?? true),
  }));
}
