// The seed's MigrateInventoryData: per-record processing. Every discontinued item gets a
// disposition decided by code, one row at a time, inside the batch's transaction:
//   - each row runs in its own savepoint; a row whose handler throws is rolled back alone, recorded
//     in stockrx_migrate.row_errors (key and message) and logged, and the batch goes on;
//   - transient errors (deadlock, serialization failure) are retried a few times first — the
//     seed's with_retry — so the handler needs no retry loop of its own;
//   - more than maxErrorRatePercent failing rows (default 5 %, the seed's error-rate alert) fail
//     the step, and the migration is compensated.
// The lock (one run per database), the monitoring and the batching around it are the framework's.
import { defineMigration } from 'stockrx-migrate';

interface DiscontinuedItem {
  id: string;
  quantity: number;
  price: string | null;
}

/** One lot never holds more than this: a larger count is a data-entry error a person must check. */
const MAX_PLAUSIBLE_QUANTITY = 1990;

export default defineMigration({
  description: 'MigrateInventoryData: decide a disposition for every discontinued item, row by row',
  steps: (m) => [
    m.addColumn('inventories', 'disposition', 'text'),
    m.eachBatch('inventories', { where: { status: 'discontinued' }, columns: ['quantity', 'price'], handler: 'planDisposition' }),
  ],
  handlers: {
    async planDisposition(item: DiscontinuedItem, { db }) {
      if (item.quantity > MAX_PLAUSIBLE_QUANTITY) {
        throw new Error(`quantity ${item.quantity} is more than one lot holds (${MAX_PLAUSIBLE_QUANTITY}): count the stock by hand`);
      }
      const disposition = item.quantity < 100 ? 'archive' : Number(item.price ?? 0) >= 100 ? 'return_to_supplier' : 'dispose';
      await db.updateTable('inventories').set({ disposition }).where('id', '=', item.id).execute();
    },
  },
  validate: (v) => [v.noRows('inventories', `status = 'discontinued' AND disposition IS NULL AND quantity <= ${MAX_PLAUSIBLE_QUANTITY}`)],
});
