// A migration that fails on purpose, for `stockrx-migrate demo` (it lives outside migrations/ so
// `up` never picks it up). Steps 1 and 2 succeed; step 3 fails because inventory names repeat
// (the same product is stocked in several lots), and CREATE UNIQUE INDEX CONCURRENTLY leaves an
// INVALID index behind when it fails. The saga then undoes everything, last step first: the
// half-built index, the sku index, the sku column. The database ends exactly as it was.
import { defineMigration } from 'stockrx-migrate';

export default defineMigration({
  description: 'Add inventories.sku and make inventory names unique (fails: names repeat)',
  steps: (m) => [
    m.addColumn('inventories', 'sku', 'varchar(32)'),
    m.addIndex('inventories', ['sku']),
    m.addIndex('inventories', ['name'], { unique: true, name: 'inventories_name_unique' }),
  ],
  validate: (v) => [v.indexExists('inventories', { name: 'inventories_name_unique' })],
});
