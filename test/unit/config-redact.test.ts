import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { logRedact, logRedactPaths, MASK, redactSecrets, redactUrl, secretsOfUrl } from '../../src/config/redact';

void describe('redactUrl', () => {
  void it('masks only the password', () => {
    assert.equal(redactUrl('postgres://app:s3cret@db:5432/shop?sslmode=require'), 'postgres://app:***@db:5432/shop?sslmode=require');
  });

  void it('leaves URLs without a password unchanged', () => {
    for (const url of ['postgres://app@db/shop', 'postgres://db/shop', 'postgres:///shop?host=/tmp', 'https://example.com/a@b']) {
      assert.equal(redactUrl(url), url);
    }
  });

  void it('masks a password containing @, : and percent-encodings whole', () => {
    assert.equal(redactUrl('postgresql://app:p@ss:w%2Frd@db/shop'), 'postgresql://app:***@db/shop');
  });

  void it('masks the password of a malformed URL too', () => {
    const redacted = redactUrl('postgres://app:pa/ss@db/shop');
    assert.ok(!redacted.includes('pa/ss'), redacted);
  });

  void it('masks ?password= query parameters', () => {
    assert.equal(redactUrl('postgres://db/shop?user=app&password=s3cret&sslmode=require'), 'postgres://db/shop?user=app&password=***&sslmode=require');
  });
});

void describe('redactSecrets', () => {
  void it('masks every URL password inside arbitrary text', () => {
    const text = 'connect postgres://a:one@h1/db failed; retry "postgresql://b:two@h2:5433/db2" and http://c:three@x/';
    const out = redactSecrets(text);
    for (const secret of ['one', 'two', 'three']) assert.ok(!out.includes(`:${secret}@`), out);
    assert.equal(out, 'connect postgres://a:***@h1/db failed; retry "postgresql://b:***@h2:5433/db2" and http://c:***@x/');
  });

  void it('masks given literal secrets, raw and URL-encoded', () => {
    const out = redactSecrets('password p@ss! was rejected for postgres://u:p%40ss!@db/x (p@ss!)', ['p@ss!']);
    assert.ok(!out.includes('p@ss!'), out);
    assert.ok(!out.includes('p%40ss!'), out);
    assert.ok(out.includes(MASK));
  });

  void it('masks the longer secret first when one contains another', () => {
    assert.equal(redactSecrets('token abcdef', ['abc', 'abcdef']), `token ${MASK}`);
  });

  void it('ignores empty secrets', () => {
    assert.equal(redactSecrets('nothing to hide', ['']), 'nothing to hide');
  });

  void it('masks libpq key=value passwords', () => {
    assert.equal(redactSecrets("host=db password=s3cret user=app sslpassword='x y'"), 'host=db password=*** user=app sslpassword=***');
  });

  void it('leaves ordinary text alone', () => {
    const text = 'password authentication failed for user "app"';
    assert.equal(redactSecrets(text), text);
  });
});

void describe('secretsOfUrl', () => {
  void it('returns the raw and decoded password', () => {
    assert.deepEqual(secretsOfUrl('postgres://u:p%40ss@db/x'), ['p%40ss', 'p@ss']);
  });

  void it('returns nothing without a password or URL', () => {
    assert.deepEqual(secretsOfUrl('postgres://u@db/x'), []);
    assert.deepEqual(secretsOfUrl(null), []);
    assert.deepEqual(secretsOfUrl('not a url'), []);
  });
});

void describe('pino redaction', () => {
  void it('lists the required paths', () => {
    for (const p of ['databaseUrl', '*.databaseUrl', 'password', '*.password', 'connectionString']) {
      assert.ok(logRedactPaths.includes(p), p);
    }
  });

  void it('keeps host and database of connection strings and masks other secrets whole', () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(chunk.toString()); done(); } });
    const logger = pino({ redact: logRedact }, sink);
    logger.info({
      databaseUrl: 'postgres://app:s3cret@db:5432/shop',
      config: { databaseUrl: 'postgres://app:s3cret@db/shop', webhookUrl: 'https://hooks.example/T0/B0/s3cret' },
      pool: { connectionString: 'postgres://app:s3cret@db/shop', password: 's3cret' },
      password: 's3cret',
    }, 'starting');
    const line = lines.join('');
    assert.ok(!line.includes('s3cret'), line);
    const entry = JSON.parse(line) as Record<string, Record<string, unknown> | string>;
    assert.equal(entry.databaseUrl, 'postgres://app:***@db:5432/shop');
    assert.deepEqual(entry.pool, { connectionString: 'postgres://app:***@db/shop', password: MASK });
    assert.equal(entry.password, MASK);
  });
});
