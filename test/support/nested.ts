import { NestedStack, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';

/** The templates of the nested stacks of `stack`: the per-target instance policies and their outputs live there. */
export function nestedTemplates(stack: Stack): Template[] {
  return stack.node
    .findAll()
    .filter((construct): construct is NestedStack => NestedStack.isNestedStack(construct) && construct.nestedStackParent === stack)
    .map((nested) => Template.fromStack(nested));
}

/** The resources of `type` matching `props` in the nested stacks of `stack`, as `Template.findResources` gives them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function findNestedResources(stack: Stack, type: string, props?: unknown): Record<string, any> {
  return Object.assign({}, ...nestedTemplates(stack).map((template) => template.findResources(type, props)));
}

/** The outputs matching `logicalId` in the nested stacks of `stack`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function findNestedOutputs(stack: Stack, logicalId: string): Record<string, any> {
  return Object.assign({}, ...nestedTemplates(stack).map((template) => template.findOutputs(logicalId)));
}
