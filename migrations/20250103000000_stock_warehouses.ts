// createRecords: the first warehouses, inserted as data (not as a schema default), so `down` and a
// failed run remove exactly these rows — by the ids the insert returned, kept in the backup — and
// nothing a user added beside them.
import { defineMigration } from 'stockrx-migrate';

export default defineMigration({
  description: 'Stock the warehouses table with the three distribution centres',
  steps: (m) => [
    m.createRecords('warehouses', [
      { code: 'TYO-01', name: 'Tokyo central distribution centre' },
      { code: 'OSA-01', name: 'Osaka distribution centre' },
      { code: 'FUK-01', name: 'Fukuoka distribution centre' },
    ]),
  ],
  validate: (v) => [v.noRows('warehouses', "code NOT IN ('TYO-01', 'OSA-01', 'FUK-01')")],
});
