/** Failure semantics on memory:// (the same scenarios run against nats-server in test/integration). */
import { after, before, describe } from 'node:test';
import { resetMemoryBroker } from '../../../src/testing.ts';
import { failureScenarios } from '../../helpers/failure-scenarios.ts';

let fixture: typeof import('../../fixtures/failure-tasks.ts');
let keepAlive: NodeJS.Timeout | undefined;

before(async () => {
  keepAlive = setInterval(() => {}, 60_000);
  process.env.IT_APP = 'failmem';
  fixture = await import('../../fixtures/failure-tasks.ts');
  fixture.app.configure({ broker: 'memory://failures' });
});

after(async () => {
  await fixture.app.close();
  resetMemoryBroker('failures');
  clearInterval(keepAlive);
});

describe('failure semantics on memory://', () => {
  failureScenarios(() => fixture);
});
