import { sqlIdentifier, sqlInStrings, sqlString, type ClickHouseClient } from '@maniac-gateway/runtime';

/** Which completion ids a project already has in the store (for idempotent re-uploads of examples). */
export interface ExistingIds {
  find(projectId: string, ids: string[]): Promise<Set<string>>;
}

const CHUNK = 1000;

export class ClickHouseExistingIds implements ExistingIds {
  constructor(
    private readonly client: ClickHouseClient,
    private readonly database: string,
  ) {}

  async find(projectId: string, ids: string[]): Promise<Set<string>> {
    const found = new Set<string>();
    const db = sqlIdentifier(this.database);
    for (let i = 0; i < ids.length; i += CHUNK) {
      const chunk = ids.slice(i, i + CHUNK);
      const rs = await this.client.query({
        query: `SELECT DISTINCT completion_id FROM ${db}.completions_by_id WHERE project_id = ${sqlString(projectId)} AND completion_id IN ${sqlInStrings(chunk)}`,
        format: 'JSONEachRow',
      });
      for (const row of await rs.json<{ completion_id: string }>()) found.add(row.completion_id);
    }
    return found;
  }
}
