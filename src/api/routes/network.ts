import type { FastifyPluginAsync } from 'fastify';
import { getAddress, type Address } from 'viem';
import type { ApiContext } from '../context.ts';
import { ApiError } from '../errors.ts';

const ADDRESS = { type: 'string', pattern: '^0x[0-9a-fA-F]{40}$' } as const;

/**
 * The node's view of the network: `GET /v1/network/nodes` ranks the nodes it knows from
 * announcements for an adapter; `GET /v1/network/usage` and `GET /v1/network/receipts` let anyone
 * audit a node this node follows (docs/p2p.md "Auditing"): what its receipts say it served per
 * adapter, and any receipt with the Merkle proof of the signed batch that commits it (what
 * `NodeRegistry.slashReceipts` takes).
 */
export function networkRoutes(ctx: ApiContext): FastifyPluginAsync {
  const network = () => {
    if (!ctx.network) {
      throw new ApiError({ status: 404, code: 'OPENLORA_P2P_DISABLED', message: 'This node does not take part in the P2P network.', hint: 'Ask a node with p2p.enabled = true.' });
    }
    return ctx.network;
  };
  return async (app) => {
    app.get(
      '/v1/network/nodes',
      {
        schema: {
          tags: ['network'],
          summary: 'Known nodes ranked for an adapter',
          querystring: {
            type: 'object',
            // Query strings are strings: the API's validator does not coerce types.
            properties: { model: { type: 'string', minLength: 1, maxLength: 128 }, limit: { type: 'string', pattern: '^(?:[1-9][0-9]?|1[0-9]{2}|200)$' } },
            additionalProperties: false,
          },
        },
      },
      async (request) => {
        const q = request.query as { model?: string; limit?: string };
        return { object: 'list', data: network().routing.rank({ model: q.model, limit: q.limit === undefined ? 20 : Number(q.limit) }) };
      },
    );
    app.get(
      '/v1/network/usage',
      {
        schema: {
          tags: ['network'],
          summary: "A followed node's usage per adapter, from its committed receipts",
          querystring: { type: 'object', properties: { node: ADDRESS }, required: ['node'], additionalProperties: false },
        },
      },
      async (request) => {
        const node = getAddress((request.query as { node: Address }).node);
        const n = network();
        return {
          object: 'list',
          node,
          following: n.following().includes(node),
          data: n.usage(node).map((u) => ({ ...u, amount: u.amount.toString() })),
        };
      },
    );
    app.get(
      '/v1/network/receipts',
      {
        schema: {
          tags: ['network'],
          summary: 'Receipts held of (node, seq), with the proof of the batch that commits each',
          querystring: { type: 'object', properties: { node: ADDRESS, seq: { type: 'string', pattern: '^[0-9]{1,20}$' } }, required: ['node', 'seq'], additionalProperties: false },
        },
      },
      async (request) => {
        const q = request.query as { node: Address; seq: string };
        const seq = BigInt(q.seq);
        if (seq >= 2n ** 64n) throw new ApiError({ status: 400, code: 'OPENLORA_API_BAD_SEQ', message: `seq ${q.seq} does not fit uint64.`, hint: 'Receipt seqs are uint64.' });
        const json = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)));
        return {
          object: 'list',
          data: network()
            .receiptsOf(getAddress(q.node), seq)
            .map(({ receipt: r, evidence }) => json({ node: r.node, digest: r.digest, status: r.status, batchSeq: r.batchSeq, index: r.index, receipt: r.receipt, evidence })),
        };
      },
    );
  };
}
