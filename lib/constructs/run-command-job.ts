import { Aws, Duration, Fn, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { NON_TERMINAL_STATUSES, type TargetPlan } from '../../contracts/backup-command';
import { grantAlertPublishing } from './alert-topic';
import { deadLetterAsyncFailures } from './dead-letters';
import { HouseFunction, type HouseFunctionProps } from './house-function';
import type { InstanceCommandDocument } from './instance-command-document';
import { acknowledgeWildcardResources } from './nag';


/**
 * Instance ARNs per policy: IAM's 6,144 characters fit 70 of the longest (a GovCloud partition and
 * a long region name, about 78 characters each).
 */
const INSTANCES_PER_POLICY = 70;
export interface RunCommandJobProps {
  /** What the job does to a target, capitalized, for statement IDs and descriptions: `Backup`, `Restore`. */
  readonly noun: string;
  /** The job's instance-command document, made once with the ID `Document`. */
  readonly documentClass: new (scope: Construct, id: string, props: { readonly documentName: string; readonly scriptsDir?: string }) => InstanceCommandDocument;
  /** Its name: the senders send it, the result rule filters on it, IAM names it. */
  readonly documentName: string;
  /**
   * Directory of the instance scripts the document embeds.
   * @default - `scripts/instance/` of this repository
   */
  readonly scriptsDir?: string;
  /** Encrypts the command output, the dead-letter queue and the schedules. */
  readonly opsKey: kms.IKey;
  /** Where the result function announces runs. */
  readonly alertTopic: sns.ITopic;
  /** Why the dead-letter queue needs no dead-letter queue of its own (cdk-nag AwsSolutions-SQS3). */
  readonly deadLetterQueueReason: string;
  /**
   * How long command output (the instance scripts' logs) is kept.
   * @default - one year
   */
  readonly commandLogRetention?: logs.RetentionDays;
}

/** The result function of a job: on the document's Run Command status events. */
export interface RunCommandResultProps extends Pick<HouseFunctionProps, 'entry' | 'description' | 'serviceName' | 'environment'> {
  /** The EventBridge detail types it receives (invocation status, and command status when it reads whole commands). */
  readonly detailTypes: readonly string[];
}

/**
 * The pipeline every instance job shares, from the document to the result: the SSM document, the
 * log group its runs write to, the dead-letter queue of everything asynchronous, the result
 * function on the document's terminal Run Command events, and the grants and roles that send the
 * document and invoke the job's functions. A job (backups, restores) extends it with its own
 * functions and schedules. Child IDs are the job's own (`Document`, `CommandOutput`,
 * `DeadLetters`, `Result`, `RunStatusRule`, `SchedulerRole`), so stateful resources keep their
 * logical IDs.
 */
export abstract class RunCommandJob extends Construct {
  readonly document: InstanceCommandDocument;
  /** Where the SSM agent writes each run's output (streams `<command>/<instance>/<step>/...`). */
  readonly commandLogGroup: logs.LogGroup;
  /** Invocations that could not be delivered or failed after their retries. */
  readonly deadLetterQueue: sqs.Queue;
  private readonly noun: string;
  private readonly opsKey: kms.IKey;
  private readonly alertTopic: sns.ITopic;

  protected constructor(scope: Construct, id: string, props: RunCommandJobProps) {
    super(scope, id);
    this.noun = props.noun;
    this.opsKey = props.opsKey;
    this.alertTopic = props.alertTopic;
    this.document = new props.documentClass(this, 'Document', { documentName: props.documentName, ...(props.scriptsDir ? { scriptsDir: props.scriptsDir } : {}) });
    this.commandLogGroup = new logs.LogGroup(this, 'CommandOutput', {
      encryptionKey: props.opsKey,
      retention: props.commandLogRetention ?? logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetters', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: props.opsKey,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({ id: 'AwsSolutions-SQS3', reason: props.deadLetterQueueReason });
  }

  /**
   * The result function and the rule that gives it every terminal status of the document's runs
   * (retried for six hours, then dead-lettered). It may read runs and publish alerts.
   */
  protected addResultFunction(props: RunCommandResultProps): { fn: HouseFunction; rule: events.Rule } {
    const fn = new HouseFunction(this, 'Result', {
      entry: props.entry,
      description: props.description,
      serviceName: props.serviceName,
      logKey: this.opsKey,
      timeout: Duration.minutes(1),
      ...(props.environment ? { environment: props.environment } : {}),
    });
    this.grantReadRuns(fn.role);
    this.grantAlerts(fn.role);
    const rule = new events.Rule(this, 'RunStatusRule', {
      description: `Run Command status changes of ${this.document.documentName}, for the ${this.noun.toLowerCase()} result function`,
      eventPattern: {
        source: ['aws.ssm'],
        detailType: [...props.detailTypes],
        detail: { 'document-name': [this.document.documentName], status: events.Match.anythingBut(...NON_TERMINAL_STATUSES) },
      },
      targets: [new eventTargets.LambdaFunction(fn.function, { deadLetterQueue: this.deadLetterQueue, retryAttempts: 8, maxEventAge: Duration.hours(6) })],
    });
    this.deadLetterFailedInvocations(fn);
    return { fn, rule };
  }

  /** Publish to the alert topic; explicit KMS actions (no wildcard) on its key. */
  protected grantAlerts(role: iam.IRole): void {
    grantAlertPublishing(role, this.alertTopic, this.opsKey);
  }

  /**
   * Asynchronous invocations (schedules, EventBridge) that still fail after Lambda's retries
   * land in the dead-letter queue, so a lost run raises the alarm instead of vanishing.
   */
  protected deadLetterFailedInvocations(job: HouseFunction): void {
    deadLetterAsyncFailures(job, this.deadLetterQueue, this.opsKey);
  }


  /** Read the status and output of the document's runs. */
  protected grantReadRuns(role: iam.IRole): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: `Read${this.noun}Runs`,
        // Neither action supports resource-level permissions: IAM accepts only '*' here.
        actions: ['ssm:GetCommandInvocation', 'ssm:ListCommands'],
        resources: ['*'],
      }),
    );
    acknowledgeWildcardResources(
      role,
      ['*'],
      `ssm:GetCommandInvocation and ssm:ListCommands support no resource-level permissions; they only read the status and output of the runs of the ${this.noun.toLowerCase()} document.`,
    );
  }

  /**
   * Send the document, pinned to the version this deployment created, to the targets' instances:
   * by ID, or by tag with an `ssm:resourceTag` condition per tag key.
   */
  private instanceGrants = 0;

  protected grantSend(role: iam.IRole, instances: readonly TargetPlan['instances'][]): void {
    const stack = Stack.of(this);
    // One Fn::Sub string per instance, not formatArn's Fn::Join: with hundreds of instances the
    // joins alone would pass CloudFormation's template size.
    const instanceArn = (instanceId: string) => (instanceId === '*' ? stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' }) : Fn.sub(`arn:\${AWS::Partition}:ec2:\${AWS::Region}:\${AWS::AccountId}:instance/${instanceId}`));
    role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: `Send${this.noun}Document`, actions: ['ssm:SendCommand'], resources: [this.document.documentArn] }));
    const ids = [...new Set(instances.flatMap((selection) => ('instanceIds' in selection ? selection.instanceIds : [])))];
    if (ids.length <= INSTANCES_PER_POLICY) {
      if (ids.length > 0) role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'SendToTargetInstances', actions: ['ssm:SendCommand'], resources: ids.map(instanceArn) }));
    } else {
      // IAM counts the ARNs resolved (CDK's own overflow counts the unresolved template and would
      // make policies IAM refuses): managed policies of a bounded number of instances each.
      const grant = ++this.instanceGrants;
      for (let start = 0; start < ids.length; start += INSTANCES_PER_POLICY) {
        new iam.ManagedPolicy(this, `SendToInstances${grant}-${start / INSTANCES_PER_POLICY + 1}`, {
          description: `backup-kit: ${this.noun} commands to target instances ${start + 1}-${Math.min(ids.length, start + INSTANCES_PER_POLICY)}`,
          roles: [role],
          statements: [new iam.PolicyStatement({ sid: 'SendToTargetInstances', actions: ['ssm:SendCommand'], resources: ids.slice(start, start + INSTANCES_PER_POLICY).map(instanceArn) })],
        });
      }
    }
    const tagValues = new Map<string, Set<string>>();
    for (const selection of instances) {
      if ('tag' in selection) tagValues.set(selection.tag.key, (tagValues.get(selection.tag.key) ?? new Set<string>()).add(selection.tag.value));
    }
    [...tagValues].forEach(([key, values], index) => {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: `SendToTaggedInstances${index}`,
          actions: ['ssm:SendCommand'],
          resources: [instanceArn('*')],
          conditions: { StringEquals: { [`ssm:resourceTag/${key}`]: [...values] } },
        }),
      );
    });
    if (tagValues.size > 0) {
      acknowledgeWildcardResources(
        role,
        [instanceArn('*')],
        "Instances of tag-selected targets are not known at synth (they are replaced, scaled); the ssm:resourceTag condition limits sending to instances carrying a configured target's tag (or the tag of the instances a target may be restored onto).",
      );
    }
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: `Pin${this.noun}DocumentVersion`,
        actions: ['ssm:DescribeDocument', 'ssm:GetDocument', 'ssm:ListDocumentVersions'],
        resources: [this.document.documentArn],
      }),
    );
  }

  /**
   * The role EventBridge Scheduler invokes `fn` with, dead-lettering to the job's queue
   * (encrypted with the ops key); `invokes` names the function for the cdk-nag acknowledgement.
   */
  protected schedulerRole(fn: HouseFunction, description: string, invokes: string, id = 'SchedulerRole'): iam.Role {
    const role = new iam.Role(this, id, {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } } }),
      description,
    });
    role.addToPolicy(new iam.PolicyStatement({ actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [this.opsKey.keyArn] }));
    acknowledgeWildcardResources(role, [`${fn.function.functionArn}:*`], `The schedules invoke ${invokes}; the ARN with :* covers its versions and aliases, as the scheduler target grants it.`);
    return role;
  }
}
