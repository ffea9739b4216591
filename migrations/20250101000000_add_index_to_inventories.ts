// The seed's AddIndexToInventories: two indexes, each built CONCURRENTLY (no write lock on a busy
// table) and each undone automatically if anything later in the migration fails.
import { defineMigration } from 'stockrx-migrate';

export default defineMigration({
  description: 'AddIndexToInventories: index inventories(name) and inventories(status, created_at)',
  steps: (m) => [
    m.addIndex('inventories', ['name']),
    m.addIndex('inventories', ['status', 'created_at']),
  ],
  validate: (v) => [
    v.indexExists('inventories', ['name']),
    v.indexExists('inventories', ['status', 'created_at']),
  ],
});
