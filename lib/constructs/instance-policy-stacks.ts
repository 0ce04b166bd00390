import { NestedStack } from 'aws-cdk-lib';
import { Construct } from 'constructs';

export interface InstancePolicyStacksProps {
  /** The targets whose instance policies (and their outputs) the stacks hold, in a stable order. */
  readonly targets: readonly string[];
  /**
   * Targets per nested stack. Each target adds up to two managed policies and two outputs; a
   * stack holds at most 500 resources and 200 outputs.
   * @default 60
   */
  readonly targetsPerStack?: number;
}

/**
 * Nested stacks that hold the per-target managed policies teams attach to their instance roles,
 * and the outputs naming them: the parent stack then holds one resource per stack of targets, so
 * CloudFormation's limits of 500 resources and 200 outputs per stack do not bound the number of
 * targets. A target keeps its nested stack while the targets before it stay.
 */
export class InstancePolicyStacks extends Construct {
  private readonly chunkOf = new Map<string, number>();
  private readonly nested = new Map<number, NestedStack>();
  private readonly targetsPerStack: number;

  constructor(scope: Construct, id: string, props: InstancePolicyStacksProps) {
    super(scope, id);
    this.targetsPerStack = props.targetsPerStack ?? 60;
    if (!Number.isInteger(this.targetsPerStack) || this.targetsPerStack < 1 || this.targetsPerStack > 99) {
      throw new Error(`InstancePolicyStacks targetsPerStack: a whole number from 1 to 99 (two outputs per target, 200 per stack), got ${this.targetsPerStack}`);
    }
    props.targets.forEach((target, index) => {
      if (this.chunkOf.has(target)) throw new Error(`InstancePolicyStacks targets: '${target}' is listed twice`);
      this.chunkOf.set(target, Math.floor(index / this.targetsPerStack));
    });
  }

  /** The nested stack that holds the policies and outputs of `target`, made on first use. */
  scopeFor(target: string): Construct {
    const chunk = this.chunkOf.get(target);
    if (chunk === undefined) throw new Error(`InstancePolicyStacks scopeFor: '${target}' is not one of the targets`);
    let stack = this.nested.get(chunk);
    if (!stack) {
      const first = chunk * this.targetsPerStack + 1;
      stack = new NestedStack(this, `Targets${first}`, {
        description: `backup-kit instance policies of targets ${first}-${first + this.targetsPerStack - 1} (attach them to instance roles; see the outputs)`,
      });
      this.nested.set(chunk, stack);
    }
    return stack;
  }

  /** The nested stacks made so far. */
  get stacks(): readonly NestedStack[] {
    return [...this.nested.values()];
  }
}
