/** The admin listener's control API as `switchyard ctl` calls it. */
export class AdminClient {
  constructor(private readonly base: string, private readonly token: string | undefined) {}

  /** Sends a request; resolves with the HTTP status and the JSON body. Rejects when the listener cannot be reached. */
  async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const headers: Record<string, string> = {};
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    if (method === 'POST') headers['content-type'] = 'application/json';
    const res = await fetch(`${this.base}${path}`, { method, headers, ...(method === 'POST' ? { body: JSON.stringify(body ?? {}) } : {}), signal: AbortSignal.timeout(15_000) });
    const text = await res.text();
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      parsed = { error: text.trim() };
    }
    return { status: res.status, body: parsed };
  }
}
