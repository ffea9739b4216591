// The seed's UpdateInventoryPrices: every NULL price becomes 0, in load-controlled batches. The
// seed's settings start small (500 rows) and back off early (CPU over 60 %, memory over 70 %); the
// controller grows the batch while batches stay fast and the foreground canary stays in budget.
// The old prices (NULL) are kept in a durable backup, so `down` or a failed run puts back exactly
// the NULLs, and only on the rows this step changed.
import { defineMigration } from 'stockrx-migrate';

export default defineMigration({
  description: 'UpdateInventoryPrices: NULL prices become 0 (load-controlled, exactly reversible)',
  loadControl: { initialBatchSize: 500, cpuThreshold: 60, memoryThreshold: 70 },
  steps: (m) => [m.updateRecords('inventories', { where: { price: null }, set: { price: 0 } })],
  validate: (v) => [v.noRows('inventories', 'price IS NULL')],
});
