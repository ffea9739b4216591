// The demo's database: a fresh `stockrx_demo` with a StockRx-like schema (a pharmacy stock system:
// categories and inventories), filled in one INSERT … SELECT over generate_series so even a
// million rows take seconds. setseed() makes every run produce the same data.
import pg from 'pg';

export const DEMO_DATABASE = 'stockrx_demo';
export const CATEGORY_COUNT = 50;

export interface SeedResult {
  databaseUrl: string;
  categories: number;
  inventories: number;
  nullPrices: number;
  distinctNames: number;
}

/** The same server and credentials, another database. */
export function databaseUrlFor(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'stockrx-migrate demo' });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

const THERAPEUTIC_CLASSES = [
  'Analgesics', 'Antibiotics', 'Antivirals', 'Antifungals', 'Antihistamines', 'Antihypertensives',
  'Anticoagulants', 'Antidiabetics', 'Antidepressants', 'Antiemetics', 'Antiepileptics', 'Antipyretics',
  'Bronchodilators', 'Corticosteroids', 'Diuretics', 'Statins', 'Proton Pump Inhibitors', 'Vaccines',
  'Vitamins', 'Dermatologicals', 'Ophthalmics', 'Hormones', 'Muscle Relaxants', 'Sedatives', 'Antacids',
];

const PRODUCTS = [
  'Amoxicillin', 'Ibuprofen', 'Paracetamol', 'Loratadine', 'Cetirizine', 'Omeprazole', 'Metformin',
  'Atorvastatin', 'Simvastatin', 'Lisinopril', 'Amlodipine', 'Losartan', 'Warfarin', 'Aspirin',
  'Azithromycin', 'Doxycycline', 'Ciprofloxacin', 'Fluconazole', 'Acyclovir', 'Prednisolone',
  'Salbutamol', 'Furosemide', 'Sertraline', 'Ondansetron', 'Levetiracetam', 'Levothyroxine',
  'Diazepam', 'Baclofen', 'Hydrocortisone', 'Vitamin D3',
];
const STRENGTHS = ['5mg', '10mg', '20mg', '25mg', '50mg', '100mg', '250mg', '500mg'];

const SCHEMA = `
  CREATE TABLE categories (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    prescription_only boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE TABLE inventories (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'discontinued')),
    price numeric(10, 2),
    quantity integer NOT NULL DEFAULT 0,
    category_id integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
  );
`;

// Added after the bulk insert: one validating scan and one index build are much faster than a
// foreign-key trigger firing and an index updated once per inserted row.
const AFTER_LOAD = `
  ALTER TABLE inventories ADD CONSTRAINT inventories_category_id_fkey FOREIGN KEY (category_id) REFERENCES categories (id);
  CREATE INDEX inventories_category_id_idx ON inventories (category_id);
`;

/**
 * Drops and recreates the demo database (disconnecting anyone still on it: the demo must be
 * repeatable), then creates and fills the schema. `serverUrl` is a superuser URL of the server.
 */
export async function seedDemoDatabase(serverUrl: string, rows: number): Promise<SeedResult> {
  await withClient(serverUrl, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(DEMO_DATABASE)} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(DEMO_DATABASE)}`);
  });
  const databaseUrl = databaseUrlFor(serverUrl, DEMO_DATABASE);
  return withClient(databaseUrl, async (client) => {
    // Throwaway data: no need to wait for the WAL flush of each commit.
    await client.query('SET synchronous_commit = off');
    await client.query(SCHEMA);
    await client.query(
      `INSERT INTO categories (name, prescription_only)
       SELECT c.name || CASE WHEN k.rx THEN ' (Rx)' ELSE ' (OTC)' END, k.rx
       FROM unnest($1::text[]) WITH ORDINALITY AS c(name, n)
       CROSS JOIN (VALUES (true), (false)) AS k(rx)
       ORDER BY c.n, k.rx DESC`,
      [THERAPEUTIC_CLASSES],
    );
    await client.query('SELECT setseed(0.42)');
    // Names repeat on purpose (the same product in several lots): the demo's failing migration
    // trips over that. About 5 % of prices are NULL, as in the seed's UpdateInventoryPrices.
    await client.query(
      `INSERT INTO inventories (name, status, price, quantity, category_id, created_at, updated_at)
       SELECT p.products[1 + s.g % p.np] || ' ' || p.strengths[1 + (s.g / p.np) % p.ns],
              CASE WHEN s.g % 10 < 7 THEN 'active' WHEN s.g % 10 < 9 THEN 'inactive' ELSE 'discontinued' END,
              CASE WHEN s.g % 20 = 0 THEN NULL ELSE round((0.5 + random() * 499.5)::numeric, 2) END,
              (random() * 2000)::int,
              1 + (s.g * 7) % $4::int,
              s.created_at,
              s.created_at + random() * (now() - s.created_at)
       FROM (SELECT g, now() - random() * interval '730 days' AS created_at FROM generate_series(1, $1::int) AS g) AS s
       CROSS JOIN (SELECT $2::text[] AS products, $3::text[] AS strengths,
                          cardinality($2::text[]) AS np, cardinality($3::text[]) AS ns) AS p`,
      [rows, PRODUCTS, STRENGTHS, CATEGORY_COUNT],
    );
    await client.query(AFTER_LOAD);
    // Fresh statistics, so the planner and the pre-flight checks see the real table size.
    await client.query('ANALYZE categories, inventories');
    const { rows: [counts] } = await client.query<{ categories: string; inventories: string; null_prices: string; distinct_names: string }>(
      `SELECT (SELECT count(*) FROM categories) AS categories,
              count(*) AS inventories,
              count(*) FILTER (WHERE price IS NULL) AS null_prices,
              count(DISTINCT name) AS distinct_names
       FROM inventories`,
    );
    return {
      databaseUrl,
      categories: Number(counts!.categories),
      inventories: Number(counts!.inventories),
      nullPrices: Number(counts!.null_prices),
      distinctNames: Number(counts!.distinct_names),
    };
  });
}
