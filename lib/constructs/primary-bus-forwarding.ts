import { Aws } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';

export interface PrimaryBusTargetProps {
  /** The region whose default bus handles the events. */
  readonly primaryRegion: string;
  /**
   * The account of that bus, when it is not this one (its bus policy must let this account in).
   * @default - this account
   */
  readonly primaryAccount?: string;
  /** What is forwarded, for the role's description: 'the guarded events of this region'. */
  readonly what: string;
  /** Where events that cannot be delivered go. */
  readonly deadLetterQueue: sqs.IQueue;
  /** Construct IDs of the imported bus and of the role, in `scope` (kept as they were where logical IDs are pinned). */
  readonly ids: { readonly bus: string; readonly role: string };
}

/**
 * A rule target that forwards events of another region (the DR region's, an isolated account's)
 * to the primary region's default bus, where the kit's rules handle them as they handle their own:
 * the bus, and a role only EventBridge acting for this account may assume, which may put events
 * on that bus alone.
 */
export function primaryBusTarget(scope: Construct, props: PrimaryBusTargetProps): events.IRuleTarget {
  const busArn = `arn:${Aws.PARTITION}:events:${props.primaryRegion}:${props.primaryAccount ?? Aws.ACCOUNT_ID}:event-bus/default`;
  const bus = events.EventBus.fromEventBusArn(scope, props.ids.bus, busArn);
  const role = new iam.Role(scope, props.ids.role, {
    assumedBy: new iam.ServicePrincipal('events.amazonaws.com').withConditions({ StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } }),
    description: `Forwards ${props.what} to ${props.primaryRegion}`,
  });
  role.addToPolicy(new iam.PolicyStatement({ actions: ['events:PutEvents'], resources: [busArn] }));
  return new targets.EventBus(bus, { role, deadLetterQueue: props.deadLetterQueue });
}
