import type { RestoreJobsProps } from './restore-jobs';

/** The checks of RestoreJobs' props, made before anything is built. */
export function validateRestoreJobsProps(props: RestoreJobsProps): void {
  if (props.targets.length === 0) throw new Error('RestoreJobs targets: at least one target is required (leave the construct out when there is nothing to restore)');
  if (!/^[a-z][a-z0-9-]{0,23}$/.test(props.safetyTier)) throw new Error(`RestoreJobs safetyTier: '${props.safetyTier}' is not a tier name`);
  if (props.safetyRetention !== undefined && props.safetyRetention.toDays() < 1) throw new Error('RestoreJobs safetyRetention: must be at least one day');
  if (props.drills) {
    if (!Number.isInteger(props.drills.alarmAfterDays) || props.drills.alarmAfterDays < 2) {
      throw new Error(`RestoreJobs drills alarmAfterDays: must be a whole number of days >= 2 (got ${props.drills.alarmAfterDays})`);
    }
    if (!/^cron\(.*\)$/.test(props.drills.schedule)) throw new Error(`RestoreJobs drills schedule: '${props.drills.schedule}' is not a cron(...) expression`);
  }
  const names = props.targets.map((target) => target.backup.name);
  const duplicate = names.find((name, index) => names.indexOf(name) !== index);
  if (duplicate) throw new Error(`RestoreJobs targets: '${duplicate}' is listed twice`);
  for (const [server, members] of Object.entries(props.servers ?? {})) {
    if (!/^[a-z][a-z0-9-]{0,39}$/.test(server)) throw new Error(`RestoreJobs servers: '${server}' is not a server name (lowercase letters, digits, hyphens, at most 40)`);
    if (members.length === 0) throw new Error(`RestoreJobs servers.${server}: at least one target is required`);
    for (const member of members) {
      const target = props.targets.find((candidate) => candidate.backup.name === member);
      if (!target) throw new Error(`RestoreJobs servers.${server}: '${member}' is not one of the targets`);
      if (!target.restore.onto) throw new Error(`RestoreJobs servers.${server}: '${member}' has no instances it may be restored onto (restore.onto), so the server cannot be rebuilt`);
    }
  }
  for (const { server, onto } of props.drills?.rebuilds ?? []) {
    const members = props.servers?.[server];
    if (!members) throw new Error(`RestoreJobs drills.rebuilds: '${server}' is not one of the servers`);
    if (!/^i-([0-9a-f]{8}|[0-9a-f]{17})$/.test(onto)) throw new Error(`RestoreJobs drills.rebuilds.${server}: '${onto}' is not an EC2 instance ID`);
  }
}
