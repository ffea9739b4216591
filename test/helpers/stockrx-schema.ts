// A StockRx-like schema (categories, inventories, inventory logs) with a few thousand deterministic
// rows, plus the catalog and journal look-ups the step-kind and fail-at-every-step tests assert
// with. Data is generated from generate_series only (no now(), no random()), so two databases
// seeded with it hold identical rows.
import pg from 'pg';

export const STOCKRX_SCHEMA_SQL = `
  CREATE TABLE categories (
    id serial PRIMARY KEY,
    name varchar(100) NOT NULL CONSTRAINT categories_name_key UNIQUE,
    parent_id integer REFERENCES categories (id),
    position integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE TABLE inventories (
    id bigserial PRIMARY KEY,
    name varchar(255) NOT NULL,
    code text,
    sku text,
    status text NOT NULL DEFAULT 'active'
      CONSTRAINT inventories_status_check CHECK (status IN ('active', 'archived', 'discontinued')),
    price numeric(10, 2) DEFAULT 0 CONSTRAINT inventories_price_check CHECK (price >= 0),
    quantity integer NOT NULL DEFAULT 0,
    -- Legacy flag, superseded by status.
    active boolean NOT NULL DEFAULT true,
    category_id integer,
    supplier_code text,
    description text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz
  );
  CREATE INDEX inventories_status_created_at_idx ON inventories (status, created_at);
  CREATE INDEX inventories_price_idx ON inventories (price) WHERE price IS NOT NULL;
  CREATE INDEX inventories_stock_value_idx ON inventories ((price * quantity));
  CREATE UNIQUE INDEX inventories_sku_key ON inventories (sku) WHERE sku IS NOT NULL;
  CREATE INDEX inventories_created_at_idx ON inventories (created_at DESC);
  CREATE INDEX inventories_updated_at_idx ON inventories (updated_at) WHERE updated_at IS NOT NULL;
  CREATE INDEX inventories_active_name_idx ON inventories (name) WHERE status = 'active';
  -- Legacy log table: no foreign key, and a few rows point at inventories that no longer exist.
  CREATE TABLE inventory_logs (
    id serial PRIMARY KEY,
    inventory_id bigint NOT NULL,
    action text NOT NULL,
    quantity_change integer NOT NULL,
    note text,
    created_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE INDEX inventory_logs_inventory_id_idx ON inventory_logs (inventory_id);

  INSERT INTO categories (name, parent_id, position, created_at)
  SELECT 'Category ' || g, CASE WHEN g > 4 THEN 1 + g % 4 END, g % 5, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 day'
  FROM generate_series(1, 12) g;

  INSERT INTO inventories (name, code, sku, status, price, quantity, active, category_id, supplier_code, description, created_at, updated_at)
  SELECT 'Item ' || g,
         CASE WHEN g % 10 = 0 THEN NULL ELSE 'C' || lpad(g::text, 6, '0') END,
         CASE WHEN g % 4 = 0 THEN NULL ELSE 'SKU-' || g END,
         CASE WHEN g % 10 < 7 THEN 'active' WHEN g % 10 < 9 THEN 'archived' ELSE 'discontinued' END,
         CASE WHEN g % 7 = 0 THEN NULL ELSE round(((g * 37) % 10000) / 100.0, 2) END,
         (g * 13) % 500,
         g % 10 < 7,
         1 + g % 12,
         CASE WHEN g % 9 = 0 THEN NULL ELSE 'SUP-' || (g % 40) END,
         CASE WHEN g % 3 = 0 THEN NULL ELSE 'Description of item ' || g END,
         timestamptz '2024-01-01 00:00:00+00' + g * interval '37 minutes',
         CASE WHEN g % 2 = 0 THEN NULL ELSE timestamptz '2024-06-01 00:00:00+00' + g * interval '11 minutes' END
  FROM generate_series(1, 3000) g;

  INSERT INTO inventory_logs (inventory_id, action, quantity_change, note, created_at)
  SELECT CASE WHEN g % 300 = 0 THEN 900000 + g ELSE 1 + (g * 7) % 3000 END,
         CASE WHEN g % 2 = 0 THEN 'receive' ELSE 'ship' END,
         CASE WHEN g % 2 = 0 THEN g % 50 ELSE -(g % 20) END,
         CASE WHEN g % 5 = 0 THEN 'manual correction' END,
         timestamptz '2024-02-01 00:00:00+00' + g * interval '17 minutes'
  FROM generate_series(1, 1500) g;
  ANALYZE;
`;

export const INVENTORY_ROWS = 3000;

/** The failure the tests inject: an sql step that raises as soon as it runs. */
export const INJECTED_FAILURE_STEP = `m.sql({ up: "DO $$ BEGIN RAISE EXCEPTION 'injected'; END $$", down: 'SELECT 1' })`;

export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function seedStockrxSchema(url: string): Promise<void> {
  await withClient(url, (client) => client.query(STOCKRX_SCHEMA_SQL));
}

export interface ColumnInfo {
  type: string;
  notNull: boolean;
  defaultExpression: string | null;
}

export async function columnInfo(client: pg.Client, table: string, column: string): Promise<ColumnInfo | null> {
  const { rows } = await client.query<{ type: string; not_null: boolean; default_expression: string | null }>(
    `SELECT format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS default_expression
     FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped`,
    [`public.${table}`, column],
  );
  const row = rows[0];
  return row ? { type: row.type, notNull: row.not_null, defaultExpression: row.default_expression } : null;
}

export async function tableExists(client: pg.Client, qualifiedName: string): Promise<boolean> {
  const { rows } = await client.query<{ present: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS present`, [qualifiedName]);
  return rows[0]!.present;
}

export interface IndexInfo {
  definition: string;
  valid: boolean;
}

export async function indexInfo(client: pg.Client, name: string): Promise<IndexInfo | null> {
  const { rows } = await client.query<{ definition: string; valid: boolean }>(
    `SELECT pg_get_indexdef(i.indexrelid) AS definition, i.indisvalid AS valid
     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relname = $1`,
    [name],
  );
  return rows[0] ?? null;
}

export interface ConstraintInfo {
  type: string;
  definition: string;
  validated: boolean;
}

export async function constraintInfo(client: pg.Client, table: string, name: string): Promise<ConstraintInfo | null> {
  const { rows } = await client.query<{ type: string; definition: string; validated: boolean }>(
    `SELECT contype AS type, pg_get_constraintdef(oid) AS definition, convalidated AS validated
     FROM pg_constraint WHERE conrelid = to_regclass($1) AND conname = $2`,
    [`public.${table}`, name],
  );
  return rows[0] ?? null;
}

export async function countRows(client: pg.Client, fromWhere: string): Promise<number> {
  const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${fromWhere}`);
  return Number(rows[0]!.n);
}

export interface JournalEntry {
  status: string;
  lastError: string | null;
  /** Rows left in stockrx_migrate.steps for the migration (pending compensations). */
  stepRecords: number;
}

export async function journalEntry(url: string, migrationId: string): Promise<JournalEntry | null> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ status: string; last_error: string | null; step_records: string }>(
      `SELECT m.status, m.last_error, (SELECT count(*) FROM stockrx_migrate.steps s WHERE s.migration_id = m.id) AS step_records
       FROM stockrx_migrate.migrations m WHERE m.id = $1`,
      [migrationId],
    );
    const row = rows[0];
    return row ? { status: row.status, lastError: row.last_error, stepRecords: Number(row.step_records) } : null;
  });
}

/**
 * Relations left in the backup schema. Dropped tables and dropped columns' values wait there only
 * while their migration is applied; once it is compensated or rolled back, nothing may remain.
 */
export async function backupLeftovers(url: string): Promise<string[]> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'stockrx_migrate_backup' ORDER BY 1`,
    );
    return rows.map((r) => r.name);
  });
}

/**
 * Every relation (table, index, sequence, view…) outside the system and stockrx_migrate schemas,
 * with its kind. The database snapshot does not list sequences; this catches a serial's sequence
 * that a compensation forgot or left in the wrong schema.
 */
export async function userRelations(url: string): Promise<string[]> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ relation: string }>(
      `SELECT n.nspname || '.' || c.relname || ' (' || c.relkind::text || ')' AS relation
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'stockrx_migrate', 'stockrx_migrate_backup')
         AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%'
       ORDER BY 1`,
    );
    return rows.map((r) => r.relation);
  });
}
