// The search attributes the Temporal Web UI lists and filters migrations by. Registered by `dev`,
// the embedded server, the test harness and docker-compose's admin-tools service.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const MIGRATION_ID_KEY = defineSearchAttributeKey('StockrxMigrationId', SearchAttributeType.KEYWORD);
export const STATUS_KEY = defineSearchAttributeKey('StockrxStatus', SearchAttributeType.KEYWORD);
export const PROGRESS_KEY = defineSearchAttributeKey('StockrxProgress', SearchAttributeType.DOUBLE);
