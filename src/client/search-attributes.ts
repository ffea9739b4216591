// Search attributes the Web UI lists and filters runs by (registered on the embedded server;
// docker-compose registers them on a real cluster).
import { type Client } from '@temporalio/client';
import { type SearchAttributeType } from '../embedded/dev-server';

export const SEARCH_ATTRIBUTES: Record<string, SearchAttributeType> = {
  StockrxMigrationId: 'Keyword',
  StockrxStatus: 'Keyword',
  StockrxProgress: 'Double',
};

/**
 * True when the namespace has our search attributes. Upserting an unregistered one fails the
 * workflow task, so without them runs simply do not publish to the Web UI's list filters.
 */
export async function hasSearchAttributes(client: Client, namespace: string): Promise<boolean> {
  try {
    const response = await client.connection.operatorService.listSearchAttributes({ namespace });
    const custom = Object.keys(response.customAttributes ?? {});
    return Object.keys(SEARCH_ATTRIBUTES).every((name) => custom.includes(name));
  } catch {
    return false;
  }
}
