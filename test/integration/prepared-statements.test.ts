// Statements marked with prepared() run as named prepared statements on the connection (the data
// step's batch statement: parsed and planned once per connection instead of once per batch);
// unmarked ones stay unnamed, and the same marked text reuses its statement.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CompiledQuery, sql } from 'kysely';
import { createTestDatabase, type TestDatabase } from '../helpers/env';
import { openTargetDatabase, type TargetDatabase } from '../../src/db/connect';
import { prepared } from '../../src/db/prepared-client';

let database: TestDatabase;
let target: TargetDatabase;

before(async () => {
  database = await createTestDatabase('prepared_statements');
  target = openTargetDatabase(database.url, { max: 2 });
});

after(async () => {
  await target?.close();
  await database?.drop();
});

const named = (conn: TargetDatabase['db']) =>
  sql<{ name: string; statement: string; calls: string }>`SELECT name, statement, (generic_plans + custom_plans)::text AS calls FROM pg_prepared_statements ORDER BY name`.execute(conn);

test('a marked statement is prepared once per connection under a name derived from its text, and reused', async () => {
  await target.db.connection().execute(async (conn) => {
    for (let i = 0; i < 7; i++) {
      const { rows } = await conn.executeQuery<{ x: number }>(CompiledQuery.raw(prepared('SELECT $1::int + 1 AS x'), [i]));
      assert.equal(rows[0]!.x, i + 1, 'parameters still bind per execution');
    }
    await conn.executeQuery(CompiledQuery.raw('SELECT $1::int AS unmarked', [1]));
    const { rows } = await named(conn);
    assert.equal(rows.length, 1, `one named statement, the unmarked query is not one: ${JSON.stringify(rows)}`);
    assert.match(rows[0]!.name, /^stockrx_[0-9a-f]{24}$/);
    assert.match(rows[0]!.statement, /SELECT \$1::int \+ 1 AS x/);
    assert.equal(rows[0]!.calls, '7', 'seven executions of one statement');
  });
});

test('a failing marked statement reports its error and the connection stays usable', async () => {
  await target.db.connection().execute(async (conn) => {
    await assert.rejects(conn.executeQuery(CompiledQuery.raw(prepared('SELECT 1 / $1::int AS y'), [0])), /division by zero/);
    const { rows } = await conn.executeQuery<{ y: number }>(CompiledQuery.raw(prepared('SELECT 1 / $1::int AS y'), [1]));
    assert.equal(rows[0]!.y, 1);
    await assert.rejects(conn.executeQuery(CompiledQuery.raw(prepared('SELECT no_such_column FROM pg_class'), [])), /no_such_column/);
    const again = await conn.executeQuery<{ z: number }>(CompiledQuery.raw('SELECT 2 AS z'));
    assert.equal(again.rows[0]!.z, 2);
  });
});
