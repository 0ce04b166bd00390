import { describe, expect, it, vi } from 'vitest';
import { InvalidEventError, PermissionError, RequestRejectedError } from '../../contracts/errors';
import { rejectedAnswer } from '../../lambda/shared/answer';
import { consoleHandler, consoleRestoreHandler, eventHandler } from '../../lambda/shared/handlers';
import type { Logger } from '../../lambda/shared/powertools';

function fakeLogger(): Logger & { lines: { level: string; message: string }[] } {
  const lines: { level: string; message: string }[] = [];
  const log = (level: string) => (message: string) => void lines.push({ level, message });
  return { lines, addContext: vi.fn(), info: log('info'), warn: log('warn'), error: log('error'), debug: log('debug') } as never;
}

describe('rejectedAnswer: a refusal names the field and the reason', () => {
  it('GIVEN an invalid event THEN the first issue\'s field and reason are split out, every issue kept', () => {
    const answer = rejectedAnswer(new InvalidEventError(['target: must be the name of a configured target', 'mode: must be scratch or replace']));
    expect(answer).toMatchObject({ ok: false, error: 'InvalidEvent', field: 'target', reason: 'must be the name of a configured target' });
    expect(answer.issues).toHaveLength(2);
    expect(answer.message).toMatch(/Nothing was changed\.$/);
  });

  it('GIVEN a request refused for a field THEN the field is named; GIVEN an event-wide issue THEN no field is', () => {
    expect(rejectedAnswer(new RequestRejectedError("target: 'x' is not a configured target"))).toMatchObject({ field: 'target', reason: "'x' is not a configured target" });
    expect(rejectedAnswer(new InvalidEventError(['(event): must be an object']))).toMatchObject({ reason: 'must be an object' });
    expect(rejectedAnswer(new InvalidEventError(['(event): must be an object'])).field).toBeUndefined();
    expect(rejectedAnswer(new RequestRejectedError('the restore window has passed')).field).toBeUndefined();
  });

  it('GIVEN anything else THEN it is rethrown, never answered', () => {
    expect(() => rejectedAnswer(new Error('boom'))).toThrow('boom');
  });
});

describe('consoleHandler', () => {
  const job = (logger: Logger) => ({
    logger,
    job: 'restore',
    unchanged: 'Nothing was sent.',
    permissionHint: 'The role may send only the restore document.',
    failure: (message: string) => new Error(`not started: ${message}`),
  });

  it('GIVEN a run that answers THEN the answer carries ok: true', async () => {
    const handler = consoleHandler(job(fakeLogger()), async () => ({ outcome: 'dry-run' }));
    await expect(handler({})).resolves.toEqual({ ok: true, outcome: 'dry-run' });
  });

  it('GIVEN a refused request or an IAM refusal THEN it answers ok: false with the reason, and logs it', async () => {
    const logger = fakeLogger();
    const refused = consoleHandler(job(logger), async () => {
      throw new RequestRejectedError('confirm: must equal the target name');
    });
    await expect(refused({})).resolves.toMatchObject({ ok: false, field: 'confirm' });
    const denied = consoleHandler(job(logger), async () => {
      throw new PermissionError('ssm:SendCommand', Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' }));
    });
    const answer = await denied({});
    expect(answer).toMatchObject({ ok: false, error: 'PermissionDenied' });
    expect((answer as { message: string }).message).toMatch(/The role may send only the restore document\. Nothing was sent\.$/);
    expect(logger.lines.map((line) => line.level)).toEqual(['warn', 'error']);
  });

  it('GIVEN an unexpected error THEN the invocation fails with the job\'s own error', async () => {
    const handler = consoleHandler(job(fakeLogger()), async () => {
      throw new Error('socket hang up');
    });
    await expect(handler({})).rejects.toThrow('not started: socket hang up');
  });
});

describe('eventHandler', () => {
  it('GIVEN a refused event or a failure THEN it is logged and rethrown (retries and the dead-letter queue see it)', async () => {
    const logger = fakeLogger();
    const refused = eventHandler({ logger, job: 'backup trigger', unchanged: 'nothing was sent' }, async () => {
      throw new InvalidEventError(['tier: unknown']);
    });
    await expect(refused({})).rejects.toThrow(InvalidEventError);
    const failed = eventHandler({ logger, job: 'backup trigger', unchanged: 'nothing was sent' }, async () => {
      throw new Error('throttled');
    });
    await expect(failed({})).rejects.toThrow('throttled');
    const ok = eventHandler({ logger, job: 'backup trigger', unchanged: 'nothing was sent' }, async () => 'done');
    await expect(ok({})).resolves.toBe('done');
    expect(logger.lines.map((line) => `${line.level} ${line.message}`)).toEqual(['warn backup trigger: event refused; nothing was sent', 'error backup trigger failed; nothing was sent']);
  });
});

describe('consoleRestoreHandler', () => {
  class StubFailure extends Error {
    override readonly name = 'StubFailure';
  }
  const restore = (run: () => Promise<{ outcome: string }>) => ({
    parse: (event: unknown) => {
      if (typeof event !== 'object' || event === null || !('source' in event)) throw new InvalidEventError(['source: is required']);
      return event as { source: string; requestedBy?: string };
    },
    logged: (request: { source: string }) => ({ source: request.source }),
    run,
    answered: (answer: { outcome: string }) => ({ outcome: answer.outcome }),
  });

  it('GIVEN a request THEN it is logged with who asked, run with the request ID, and its answer logged and returned', async () => {
    const logger = fakeLogger();
    let seen: { requestId: string } | undefined;
    const handler = consoleRestoreHandler({ logger, job: 'restore', permissionHint: 'hint', failure: StubFailure }, {
      ...restore(async () => ({ outcome: 'dry-run' })),
      run: async (_request, invocation) => {
        seen = invocation;
        return { outcome: 'dry-run' };
      },
    });
    await expect(handler({ source: 'orders-db', requestedBy: 'jane' }, { awsRequestId: 'req-7' } as never)).resolves.toEqual({ ok: true, outcome: 'dry-run' });
    expect(seen?.requestId).toBe('req-7');
    expect(logger.lines.map((line) => line.message)).toEqual(['restore requested', 'restore answered']);
  });

  it('GIVEN a refused event THEN it is answered with nothing changed; GIVEN an unexpected error THEN it is thrown as the job\'s failure with the request ID', async () => {
    const refusing = consoleRestoreHandler({ logger: fakeLogger(), job: 'restore', permissionHint: 'hint', failure: StubFailure }, restore(async () => ({ outcome: 'x' })));
    await expect(refusing({}, { awsRequestId: 'req-8' } as never)).resolves.toMatchObject({ ok: false, field: 'source', message: expect.stringMatching(/Nothing was changed\.$/) });
    const failing = consoleRestoreHandler({ logger: fakeLogger(), job: 'restore', permissionHint: 'hint', failure: StubFailure }, restore(async () => Promise.reject(new Error('RDS is down'))));
    await expect(failing({ source: 'orders-db' }, { awsRequestId: 'req-9' } as never)).rejects.toThrow(new StubFailure("restore failed: RDS is down (request req-9; see the function's logs)"));
  });
});
