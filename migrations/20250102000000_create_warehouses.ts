// Stock moves into warehouses: a new table, a nullable reference from every inventory row, an index
// for it (a foreign key column without one makes deletes on the parent scan the child) and the
// foreign key itself (added NOT VALID, then validated without blocking writes). The validations are
// the seed's data-integrity checks: the foreign keys exist and no price is negative.
import { sql } from 'kysely';
import { defineMigration } from 'stockrx-migrate';

export default defineMigration({
  description: 'Create warehouses and link inventories to them',
  steps: (m) => [
    m.createTable('warehouses', (t) =>
      t
        .addColumn('id', 'serial', (c) => c.primaryKey())
        .addColumn('code', 'varchar(16)', (c) => c.notNull().unique())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`)),
    ),
    m.addColumn('inventories', 'warehouse_id', 'integer'),
    m.addIndex('inventories', ['warehouse_id']),
    m.addForeignKey('inventories', 'warehouse_id', 'warehouses', { onDelete: 'set null' }),
  ],
  validate: (v) => [
    v.foreignKeyExists('inventories', 'warehouses'),
    v.foreignKeyExists('inventories', 'categories'),
    v.indexExists('inventories', ['warehouse_id']),
    v.noRows('inventories', 'price < 0'),
  ],
});
