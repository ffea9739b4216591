// Search attributes the Web UI lists and filters runs by (registered on the embedded server;
// docker-compose registers them on a real cluster).
import { type SearchAttributeType } from '../embedded/dev-server';

export const SEARCH_ATTRIBUTES: Record<string, SearchAttributeType> = {
  StockrxMigrationId: 'Keyword',
  StockrxStatus: 'Keyword',
  StockrxProgress: 'Double',
};
