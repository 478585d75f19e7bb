import type { FastifyPluginAsync } from 'fastify';
import Type from 'typebox';
import { DeploymentSchema } from '../../chain/deployment.ts';
import type { ApiContext } from '../context.ts';
import { ApiError } from '../errors.ts';

const Hex = Type.String({ pattern: '^0x[0-9a-fA-F]*$' });

const ChainInfo = Type.Object({
  deployment: DeploymentSchema,
  rpc_url: Type.Union([Type.String(), Type.Null()], { description: 'JSON-RPC URL for browsers (config ui.rpcUrl); null: use a wallet\'s provider.' }),
});

const ReportList = Type.Object({
  object: Type.Literal('list'),
  data: Type.Array(
    Type.Object({
      adapter_id: Hex,
      content_id: Hex,
      name: Type.Union([Type.String(), Type.Null()]),
      root: Type.Union([Hex, Type.Null()]),
      total_weight: Type.String(),
      contributors: Type.Integer(),
      url: Type.String(),
    }),
  ),
});

/**
 * What the contributor page needs from a node: the deployment (`GET /v1/chain`) and the published
 * attribution reports of the adapters it serves (`GET /v1/attribution/reports[/:adapter_id]`), from
 * which contributors' weights and claim proofs come. The chain is the authority: the page and
 * `openlora claim` check each report's root against AdapterRegistry.
 */
export function attributionRoutes(ctx: ApiContext): FastifyPluginAsync {
  return async (app) => {
    const chain = () => {
      if (!ctx.chain) throw new ApiError({ status: 404, code: 'OPENLORA_API_NO_DEPLOYMENT', message: 'This node runs without a contract deployment.', hint: 'Ask a node started with --deployment FILE.' });
      return ctx.chain;
    };
    app.get('/v1/chain', { schema: { tags: ['attribution'], summary: 'The contract deployment of this node, and an RPC URL for browsers', response: { 200: ChainInfo } } }, async () => ({ deployment: chain().deployment, rpc_url: chain().browserRpcUrl }));
    app.get('/v1/chain/deployment', { schema: { tags: ['attribution'], summary: 'The deployment file (for --deployment URL)', response: { 200: DeploymentSchema } } }, async () => chain().deployment);
    const nameOf = (adapterId: string) => ctx.adapters.list().find((a) => a.laneId.toLowerCase() === adapterId.toLowerCase())?.name ?? null;
    app.get('/v1/attribution/reports', { schema: { tags: ['attribution'], summary: 'Published attribution reports of the adapters served', response: { 200: ReportList } } }, async () => ({
      object: 'list' as const,
      data: ctx.attributionReports.map((r) => ({
        adapter_id: r.adapterId,
        content_id: r.adapterContentId,
        name: nameOf(r.adapterId),
        root: r.root,
        total_weight: r.totalWeight,
        contributors: r.contributors.length,
        url: `/v1/attribution/reports/${r.adapterId}`,
      })),
    }));
    app.get(
      '/v1/attribution/reports/:adapter_id',
      { schema: { tags: ['attribution'], summary: 'One attribution report (openlora-attribution/1 JSON)', params: Type.Object({ adapter_id: Type.String({ pattern: '^0x[0-9a-fA-F]{64}$' }) }) } },
      async (request) => {
        const id = (request.params as { adapter_id: string }).adapter_id.toLowerCase();
        const report = ctx.attributionReports.find((r) => r.adapterId.toLowerCase() === id);
        if (!report) throw new ApiError({ status: 404, code: 'OPENLORA_API_REPORT_NOT_FOUND', message: `This node publishes no attribution report for adapter ${id}.`, hint: 'GET /v1/attribution/reports lists the ones it has.' });
        return report;
      },
    );
  };
}
