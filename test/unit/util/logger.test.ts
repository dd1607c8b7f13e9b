import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger, silentLogger } from '../../../src/util/logger.ts';

function capture() {
  const lines: string[] = [];
  return { lines, write: (l: string) => lines.push(l) };
}

describe('createLogger', () => {
  test('drops lines below the level (default info)', () => {
    const c = capture();
    const log = createLogger({ write: c.write });
    log.debug('hidden');
    log.info('shown');
    log.error('also shown');
    assert.equal(c.lines.length, 2);
    const w = capture();
    const warnOnly = createLogger({ level: 'warn', write: w.write });
    warnOnly.info('hidden');
    warnOnly.warn('shown');
    assert.equal(w.lines.length, 1);
  });

  test('text lines: time, padded level, message, then k=v with quoting where needed', () => {
    const c = capture();
    createLogger({ write: c.write }).warn('task failed', { id: 'abc', n: 3, note: 'two words', missing: undefined, err: new TypeError('boom') });
    const line = c.lines[0] ?? '';
    assert.match(line, /^\d{4}-\d{2}-\d{2}T\S+Z WARN {2}task failed id=abc n=3 note="two words" err="TypeError: boom"$/);
    assert.ok(!line.includes('missing'));
  });

  test('json lines: one object per line, errors as name/message/stack', () => {
    const c = capture();
    createLogger({ format: 'json', write: c.write }).error('oops', { id: 'x', err: new Error('bad') });
    const o = JSON.parse(c.lines[0] ?? '') as Record<string, unknown>;
    assert.equal(o.level, 'error');
    assert.equal(o.msg, 'oops');
    assert.equal(o.id, 'x');
    assert.ok(!Number.isNaN(Date.parse(o.time as string)));
    const err = o.err as Record<string, unknown>;
    assert.equal(err.name, 'Error');
    assert.equal(err.message, 'bad');
    assert.match(err.stack as string, /Error: bad/);
  });

  test('child loggers add their fields to every line; call fields win', () => {
    const c = capture();
    const child = createLogger({ format: 'json', write: c.write }).child({ worker: 'w1', task: 'a' }).child({ id: '1' });
    child.info('hi', { task: 'b' });
    assert.deepEqual(
      Object.fromEntries(Object.entries(JSON.parse(c.lines[0] ?? '') as Record<string, unknown>).filter(([k]) => k !== 'time')),
      { level: 'info', msg: 'hi', worker: 'w1', task: 'b', id: '1' },
    );
  });

  test('silentLogger writes nothing and its children are silent', () => {
    assert.equal(silentLogger.child({ a: 1 }), silentLogger);
    assert.doesNotThrow(() => silentLogger.error('x', { y: 1 }));
  });
});
