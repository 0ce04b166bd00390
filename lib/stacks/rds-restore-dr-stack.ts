import { Stack, type StackProps } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import { Construct } from 'constructs';
import { primaryBusTarget } from '../constructs/primary-bus-forwarding';
import { type AlertChannel, RegionalAlerts } from '../constructs/regional-alerts';
import { restoredInstanceEventPattern } from '../constructs/rds-restore';

export interface RdsRestoreDrStackProps extends StackProps {
  /** Identifiers of the sources restorable in the DR region. */
  readonly sourceIdentifiers: readonly string[];
  /** The primary region, whose default event bus runs the restore completion. */
  readonly primaryRegion: string;
  /**
   * The region's alert channel, from the replica stack when it is in this account.
   * @default - this stack makes its own key and topic, with `alertEmails` subscribed
   */
  readonly alertChannel?: AlertChannel;
  /** Subscribed to the topic this stack makes when no `alertChannel` is given (the config's `alertEmails`). */
  readonly alertEmails: readonly string[];
}

/**
 * The DR region's part of RDS restore: RDS events of instances restored there are forwarded to
 * the primary region's default bus, where the completion function reports them like any other.
 * Stateless; nothing else lives here.
 */
export class RdsRestoreDrStack extends Stack {
  readonly forwardRule: events.Rule;
  /** This region's alert topic, dead-letter queue and alarms. */
  readonly regionalAlerts: RegionalAlerts;

  constructor(scope: Construct, id: string, props: RdsRestoreDrStackProps) {
    super(scope, id, props);
    if (props.sourceIdentifiers.length === 0) {
      throw new Error('RdsRestoreDrStack sourceIdentifiers: at least one source restorable in the DR region is required');
    }
    this.regionalAlerts = new RegionalAlerts(this, 'RegionalAlerts', {
      description: `RDS restore forwarding in ${Stack.of(this).region}`,
      ...(props.alertChannel ? { channel: props.alertChannel } : { emails: props.alertEmails }),
    });
    this.forwardRule = new events.Rule(this, 'ForwardRestoredInstanceEvents', {
      description: `Forwards RDS events of DR-region point-in-time restores to ${props.primaryRegion}`,
      eventPattern: restoredInstanceEventPattern(props.sourceIdentifiers),
      targets: [
        primaryBusTarget(this, {
          primaryRegion: props.primaryRegion,
          what: 'RDS restore events',
          deadLetterQueue: this.regionalAlerts.deadLetterQueue,
          ids: { bus: 'PrimaryDefaultBus', role: 'ForwardRestoredInstanceEventsRole' },
        }),
      ],
    });
    this.regionalAlerts.watchRule(this.forwardRule, `forwards RDS restore events to ${props.primaryRegion}`);
  }
}
