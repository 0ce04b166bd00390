import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { relative } from 'node:path';
import { EXPECTED_SECONDS } from './test-plan';

const SHARED_PROJECT = 'unit-shared';

/**
 * Longest file first, whatever its project: the workers finish together instead of one long file
 * starting last. vitest's own order puts projects one after the other and, in a fresh checkout
 * (CI), has no durations to go by.
 */
export class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const defaultOrder = await super.sort(files);
    // The shared-module files run one after another in one worker (they share its module cache):
    // started first, that worker runs them while the others begin the long round trips, instead
    // of all three waiting for it at the end.
    const seconds = (spec: TestSpecification): number =>
      spec.project.name === SHARED_PROJECT ? Number.MAX_SAFE_INTEGER : (EXPECTED_SECONDS[relative(spec.project.config.root, spec.moduleId)] ?? 0);
    return defaultOrder
      .map((spec, index) => ({ spec, index }))
      .sort((a, b) => seconds(b.spec) - seconds(a.spec) || a.index - b.index)
      .map(({ spec }) => spec);
  }
}
