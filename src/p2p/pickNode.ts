import type { RankedNode } from './routing.ts';

export interface PickNodeParameters {
  /** Any node's API base URL (it lists the nodes it knows from gossip). */
  url: string;
  /** Adapter id or name; none = any node. */
  model?: string;
  /** Nodes to skip (ones that just failed), by address or URL. */
  exclude?: readonly string[];
  signal?: AbortSignal;
}

/**
 * For clients (SDK): asks a node's `GET /v1/network/nodes?model=` and returns the best-ranked node
 * not excluded, or undefined when none serves the model.
 */
export async function pickNode(p: PickNodeParameters): Promise<RankedNode | undefined> {
  const query = new URL('/v1/network/nodes', p.url);
  if (p.model) query.searchParams.set('model', p.model);
  query.searchParams.set('limit', '50');
  const response = await fetch(query, { signal: p.signal ?? AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`GET ${query} answered HTTP ${response.status}: ${await response.text()}`);
  const body = (await response.json()) as { data: RankedNode[] };
  const skip = new Set((p.exclude ?? []).map((x) => x.toLowerCase()));
  return body.data.find((n) => !skip.has(n.node.toLowerCase()) && !skip.has(n.url.toLowerCase()));
}
