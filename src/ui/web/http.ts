/** JSON over `fetch` for the pages: the node's OpenAI-style error body becomes the thrown message. */
export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** GETs JSON; throws {@link HttpError} with the node's error message on a non-2xx answer. */
export async function getJson<T>(url: string, init: RequestInit = {}): Promise<T> {
  const response = await fetch(url, { ...init, headers: { accept: 'application/json', ...init.headers } });
  const body = (await response.json().catch(() => undefined)) as { error?: { message?: string } } | undefined;
  if (!response.ok) throw new HttpError(response.status, body?.error?.message ?? `${url}: HTTP ${response.status}`);
  return body as T;
}
