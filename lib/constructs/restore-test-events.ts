import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { z } from 'zod';
import { rebuildEventSchema, type RebuildEventInput } from '../../contracts/rebuild';
import type { RestoreTarget } from '../../contracts/restore-command';
import { restoreEventSchema, type RestoreEventInput } from '../../contracts/restore-event';
import { ShareableTestEvents } from './shareable-test-events';

/** The instance ID of a test event whose replacement instance is not known at synth (a tag allows it). */
const PLACEHOLDER_INSTANCE_ID = 'i-00000000000000000';

/**
 * The restore function's shareable test events: a dry run of each target in each mode, onto its
 * replacement instance where it has one, and a dry-run rebuild of each server. Every one is a dry
 * run: the engineer changes `dryRun` (and adds `confirm`) to act.
 */
export function restoreTestEvents(
  scope: Construct,
  props: { readonly fn: lambda.IFunction; readonly logKey: kms.IKey; readonly targets: readonly RestoreTarget[]; readonly servers: Readonly<Record<string, readonly string[]>> },
): ShareableTestEvents {
  const events = new ShareableTestEvents(scope, 'TestEvents', {
    function: props.fn,
    logKey: props.logKey,
    eventSchema: z.toJSONSchema(z.union([restoreEventSchema, rebuildEventSchema]), { io: 'input', target: 'openapi-3.0', unrepresentable: 'any' }) as Record<string, unknown>,
  });
  const restore = (event: RestoreEventInput) => event as Record<string, unknown>;
  const rebuild = (event: RebuildEventInput) => event as Record<string, unknown>;
  for (const target of props.targets) {
    const name = target.backup.name;
    events.addEvent(`dry run scratch ${name}`.slice(0, 100), restore({ target: name, mode: 'scratch', dryRun: true }));
    events.addEvent(`dry run replace ${name}`.slice(0, 100), restore({ target: name, mode: 'replace', dryRun: true }));
    const onto = target.restore.onto;
    if (onto !== undefined) {
      // By tag the instance is not known yet: the engineer puts the replacement's ID in.
      const instance = 'instanceIds' in onto ? (onto.instanceIds[0] ?? PLACEHOLDER_INSTANCE_ID) : PLACEHOLDER_INSTANCE_ID;
      const label = 'instanceIds' in onto ? `dry run onto ${instance} ${name}` : `dry run onto (set onto) ${name}`;
      events.addEvent(label.slice(0, 100), restore({ target: name, onto: instance, mode: 'replace', dryRun: true }));
    }
  }
  for (const [server, names] of Object.entries(props.servers)) {
    // An instance every target of the server may be restored onto by ID, or the placeholder.
    const lists = names.map((name) => props.targets.find((target) => target.backup.name === name)?.restore.onto);
    const common = lists.reduce<readonly string[] | undefined>(
      (shared, onto) => (onto !== undefined && 'instanceIds' in onto ? (shared ?? onto.instanceIds).filter((id) => onto.instanceIds.includes(id)) : shared),
      undefined,
    );
    const instance = common?.[0] ?? PLACEHOLDER_INSTANCE_ID;
    const label = instance === PLACEHOLDER_INSTANCE_ID ? `dry run rebuild ${server} (set onto)` : `dry run rebuild ${server} onto ${instance}`;
    events.addEvent(label.slice(0, 100), rebuild({ rebuild: server, onto: instance, mode: 'replace', dryRun: true }));
  }
  return events;
}
