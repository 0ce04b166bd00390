import { Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { DRILL_NAME_INFIX, DRILL_TAG } from '../../contracts/restore-command';
import { acknowledgeWildcards } from './nag';
import { grantKmsThroughRds, nagRdsArn, rdsArn } from './rds-arns';
import type { RdsDrillSource } from './restore-jobs';

/** Point-in-time restores of the drilled sources into `<source>-drill-*` instances, which alone it may delete. */
export function grantRdsDrills(role: iam.Role, drills: readonly RdsDrillSource[], region: string): void {
  const drillArns = drills.map((drill) => rdsArn(region, `db:${drill.identifier}${DRILL_NAME_INFIX}*`));
  role.addToPolicy(new iam.PolicyStatement({ sid: 'DescribeInstances', actions: ['rds:DescribeDBInstances'], resources: [rdsArn(region, 'db:*')] }));
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'RestoreDrilledSources',
      actions: ['rds:RestoreDBInstanceToPointInTime'],
      resources: [...drills.map((drill) => rdsArn(region, `db:${drill.identifier}`)), ...drillArns, ...['subgrp:*', 'pg:*', 'og:*'].map((resource) => rdsArn(region, resource))],
    }),
  );
  role.addToPolicy(new iam.PolicyStatement({ sid: 'TagDrillInstances', actions: ['rds:AddTagsToResource'], resources: drillArns }));
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'DeleteDrillInstancesOnly',
      actions: ['rds:DeleteDBInstance'],
      resources: drillArns,
      conditions: { StringLike: { [`rds:db-tag/${DRILL_TAG}`]: '*' } },
    }),
  );
  grantKmsThroughRds(role, region, drills.some((drill) => !drill.kmsKey) ? [`arn:${Aws.PARTITION}:kms:${region}:${Aws.ACCOUNT_ID}:key/*`] : drills.map((drill) => (drill.kmsKey as kms.IKey).keyArn));
  acknowledgeWildcards(role, [nagRdsArn(region, 'db:*')], 'Read-only: the drill finds its temporary instances by name and tag among the instances of the region.');
  acknowledgeWildcards(
    role,
    drills.map((drill) => nagRdsArn(region, `db:${drill.identifier}${DRILL_NAME_INFIX}*`)),
    'The drill creates, tags and deletes only temporary instances named <source>-drill-<stamp> (deletion also needs its drill tag); the name pattern keeps it away from every other instance.',
  );
  acknowledgeWildcards(role, ['subgrp:*', 'pg:*', 'og:*'].map((resource) => nagRdsArn(region, resource)), "The drill attaches the source's subnet, parameter and option groups, read from the source at run time; it cannot modify them.");
  if (drills.some((drill) => !drill.kmsKey)) {
    acknowledgeWildcards(role, [`Resource::arn:<AWS::Partition>:kms:${region}:<AWS::AccountId>:key/*`], 'The source key is not named in the config; RDS may use account keys only through rds (kms:ViaService) and only for grants to AWS resources.');
  }
}
