import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redactUrl } from '../../../src/util/redact-url.ts';

test('redactUrl removes credentials from every URL of a list', () => {
  assert.equal(redactUrl('nats://user:pa:ss@a:4222,nats://user:pass@b:4222'), 'nats://a:4222,nats://b:4222');
  assert.equal(redactUrl('nats://tok3n@a:4222, u:p@b:4222,c:4222'), 'nats://a:4222, b:4222,c:4222');
  assert.equal(redactUrl('nats://a:4222'), 'nats://a:4222');
  assert.equal(redactUrl('memory://'), 'memory://');
});
