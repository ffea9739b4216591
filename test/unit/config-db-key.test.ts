import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dbKeyFromUrl } from '../../src/config/db-key';
import { ConfigError } from '../../src/config/errors';

void describe('dbKeyFromUrl', () => {
  void it('is host:port/database without credentials or query options', () => {
    assert.equal(dbKeyFromUrl('postgres://app:s3cret@db.internal:6543/shop?sslmode=require'), 'db.internal:6543/shop');
  });

  void it('defaults the port to 5432', () => {
    assert.equal(dbKeyFromUrl('postgres://app@db.internal/shop'), 'db.internal:5432/shop');
  });

  void it('gives one key for every spelling of the same database', () => {
    const spellings = [
      'postgres://db.internal:5432/shop',
      'postgresql://db.internal:5432/shop',
      'POSTGRES://DB.Internal/shop',
      'postgres://other:pw@db.internal/shop?application_name=x',
    ];
    assert.deepEqual(new Set(spellings.map(dbKeyFromUrl)), new Set(['db.internal:5432/shop']));
  });

  void it('keeps the database name case and decodes it', () => {
    assert.equal(dbKeyFromUrl('postgres://h/My%20Shop'), 'h:5432/My Shop');
  });

  void it('handles unix sockets given as ?host=', () => {
    assert.equal(dbKeyFromUrl('postgres:///shop?host=/var/run/postgresql'), '/var/run/postgresql:5432/shop');
    assert.equal(dbKeyFromUrl('postgresql://app:pw@/shop?host=/Var/Run/PG/&port=5433'), '/Var/Run/PG:5433/shop');
  });

  void it('handles a percent-encoded socket directory as the host', () => {
    assert.equal(dbKeyFromUrl('postgres://%2Fvar%2Frun%2Fpostgresql/shop'), '/var/run/postgresql:5432/shop');
  });

  void it('lets ?host= win over the URL host, like node-postgres', () => {
    assert.equal(dbKeyFromUrl('postgres://ignored/shop?host=Real.Host'), 'real.host:5432/shop');
  });

  void it('falls back to localhost without a host', () => {
    assert.equal(dbKeyFromUrl('postgres:///shop'), 'localhost:5432/shop');
  });

  void it('supports IPv6 hosts', () => {
    assert.equal(dbKeyFromUrl('postgres://u:p@[::1]:5433/shop'), '[::1]:5433/shop');
  });

  void it('parses passwords containing @ (last @ ends the userinfo)', () => {
    assert.equal(dbKeyFromUrl('postgres://u:p@ss@db:5432/shop'), 'db:5432/shop');
  });

  void it('accepts ?dbname= when the path is empty', () => {
    assert.equal(dbKeyFromUrl('postgres://db/?dbname=shop'), 'db:5432/shop');
  });

  const invalid: Array<[string, RegExp]> = [
    ['mysql://u:hunter2@db/shop', /postgres:\/\/ or postgresql:\/\/ scheme, not mysql:\/\//],
    ['host=db user=u password=hunter2 dbname=shop', /not a postgres:\/\/ URL/],
    ['db.internal:5432/shop', /not a postgres:\/\/ URL/],
    ['', /not a postgres:\/\/ URL/],
    ['postgres://u:hunter2@db:notaport/shop', /could not be parsed|invalid port/],
    ['postgres://u:hunter2@db:99999/shop', /could not be parsed|invalid port/],
    ['postgres://u:hunter2@db:5432', /names no database/],
    ['postgres://u:hunter2@db:5432/', /names no database/],
    ['postgres://u:hunter2@db/%E0%A4%A', /percent-encoding/],
    ['postgres://u:hunter2@h1:5432,h2:5432/shop', /could not be parsed|invalid port/],
  ];
  for (const [url, message] of invalid) {
    void it(`rejects ${JSON.stringify(url)} with a ConfigError that hides the password`, () => {
      assert.throws(() => dbKeyFromUrl(url), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, message);
        assert.ok(error.hint, 'says how to fix it');
        assert.ok(!`${error.message} ${error.hint} ${error.stack}`.includes('hunter2'), 'no password anywhere in the error');
        return true;
      });
    });
  }
});
