// Named prepared statements for the statements the worker runs thousands of times (a data step's
// batch). Postgres plans an unnamed statement again on every execution; the batch statement is a
// dozen CTEs and its planning took about a third of a millisecond — 7 % of a 1000-row batch. A
// named statement is parsed once per connection, and after five executions Postgres may switch it
// to a generic plan when that plan costs no more than the custom ones (plan_cache_mode = auto), so
// a query whose best plan depends on its parameter values keeps custom plans.
//
// kysely hands the driver `client.query(text, values)` and has no way to name a statement, so the
// pool's client class recognises a marker comment at the start of the text and names the statement
// after a hash of the text: the same text always gets the same name, on any connection.
//
// Named statements live in the server session, so they need session pooling between the worker
// and Postgres, which the data step needs anyway (its connection's SET lock_timeout and
// synchronous_commit span the slice).
import { createHash } from 'node:crypto';
import pg from 'pg';

const MARKER = '/* stockrx:prepared */ ';

/** Marks `text` to run as a named prepared statement on pools from openTargetDatabase. */
export const prepared = (text: string): string => MARKER + text;

const names = new Map<string, string>();
const MAX_NAMES = 1000;

function statementName(text: string): string {
  let name = names.get(text);
  if (name === undefined) {
    name = 'stockrx_' + createHash('sha1').update(text).digest('hex').slice(0, 24);
    if (names.size >= MAX_NAMES) names.clear();
    names.set(text, name);
  }
  return name;
}

export class PreparingClient extends pg.Client {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- forwards pg.Client.query's overloads unchanged
  override query(config: any, values?: any, callback?: any): any {
    if (typeof config === 'string' && config.startsWith(MARKER) && (values === undefined || Array.isArray(values))) {
      return super.query({ name: statementName(config), text: config, values: values ?? [] }, callback);
    }
    return super.query(config, values, callback);
  }
}
