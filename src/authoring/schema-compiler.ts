// A kysely instance that never connects: it exists only to compile schema builders to Postgres SQL
// at plan time, so the plan (and the workflow history) carries the exact statement that will run.
import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
} from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations describe tables the app types don't know yet
export type AnyKysely = Kysely<any>;

let compiler: AnyKysely | null = null;

export function schemaCompiler(): AnyKysely {
  compiler ??= new Kysely({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (db) => new PostgresIntrospector(db),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
  });
  return compiler;
}
