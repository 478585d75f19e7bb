import type { FastifyPluginAsync } from 'fastify';
import Type, { type Static } from 'typebox';
import type { ApiContext, AdapterListing } from '../context.ts';
import { BaseError } from '../../errors.ts';
import { ApiError } from '../errors.ts';
import { adminAuth } from '../adminAuth.ts';

const RegisterBody = Type.Object({
  path: Type.String({ minLength: 1, description: 'Adapter directory (PEFT layout) on the node.' }),
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:/-]+$' })),
  price: Type.Optional(Type.Object({ input_per_1k: Type.String({ pattern: '^[0-9]{1,30}$' }), output_per_1k: Type.String({ pattern: '^[0-9]{1,30}$' }) })),
  owner: Type.Optional(Type.String({ pattern: '^0x[0-9a-fA-F]{40}$', description: 'Address that registered the adapter in AdapterRegistry (salt = content id): its lane is then the on-chain id. Required in paid mode.' })),
});
const IdParam = Type.Object({ id: Type.String({ minLength: 1 }) });

function listingJson(a: AdapterListing) {
  return { id: a.id, adapter_id: a.laneId, name: a.name, rank: a.rank, targets: a.targets, resident: a.resident, price: { input_per_1k: a.price.inputPer1k.toString(), output_per_1k: a.price.outputPer1k.toString() } };
}

/**
 * What a failed registration tells the operator: a path that is not an adapter (missing, not a
 * directory, unreadable: `/etc`, `/proc/self`) or an invalid adapter is a 400, an adapter whose lane
 * cannot settle a 409; only the unexpected is a 500.
 */
function registrationError(path: string, error: unknown): unknown {
  if (error instanceof BaseError && error.code === 'OPENLORA_NODE_ADAPTER_UNSETTLEABLE') {
    return new ApiError({ status: 409, code: error.code, param: 'owner', message: error.shortMessage, hint: error.hint });
  }
  if (error instanceof BaseError && (error.code.startsWith('OPENLORA_LORA_') || error.code.startsWith('OPENLORA_MODEL_'))) {
    return new ApiError({ status: 400, code: error.code, param: 'path', message: error.shortMessage, hint: error.hint });
  }
  const errno = (error as NodeJS.ErrnoException)?.code;
  if (typeof errno === 'string' && /^E[A-Z]+$/.test(errno)) {
    return new ApiError({ status: 400, code: 'OPENLORA_API_ADAPTER_PATH', param: 'path', message: `${path} is not a readable adapter directory (${errno}).`, hint: 'Give the directory holding adapter_config.json and adapter_model.safetensors (PEFT layout), readable by the node.' });
  }
  return error;
}

/** `GET /admin/scheduler`: the fairness policy (and whether payers below their share of the running slots take one), every payer's virtual counter and recent share, and the memory budget. */
export function schedulerJson(ctx: ApiContext) {
  const s = ctx.scheduler.stats();
  return {
    fairness: ctx.scheduler.fairness,
    fair_slots: ctx.scheduler.fairSlots,
    payers: ctx.scheduler.payers().map((p) => ({ payer: p.payer, counter: p.counter, waiting: p.waiting, running: p.running, prompt_tokens: p.promptTokens, completion_tokens: p.completionTokens, rate: p.rate, share: p.share })),
    memory: s.memory
      ? { mode: 'unified', page_bytes: s.memory.pageBytes, total_pages: s.memory.totalPages, budget_bytes: s.memory.pageBytes * s.memory.totalPages, kv_pages: s.memory.kvPages, adapter_pages: s.memory.adapterPages, free_pages: s.memory.freePages, wanted_pages: s.memory.wantedPages }
      : { mode: 'split', kv_blocks: s.kvBlocksTotal, kv_blocks_free: s.kvBlocksFree },
    queue: { waiting: s.waiting, running: s.running, tokens_shared: s.tokensShared, preemptions: s.preemptions, pauses: s.pauses, stalled_seconds: s.stalledSeconds },
  };
}

/** Operator API: register, load, unload and list adapters. Needs `Authorization: Bearer <admin token>`. */
export function adminRoutes(ctx: ApiContext): FastifyPluginAsync {
  return async (app) => {
    app.addHook('onRequest', adminAuth(ctx));
    app.get('/admin/adapters', { schema: { tags: ['admin'] } }, async () => ({ data: ctx.adapters.list().map(listingJson) }));
    app.get('/admin/scheduler', { schema: { tags: ['admin'], summary: 'Fairness policy, each payer\'s counter and share, unified memory' } }, async () => schedulerJson(ctx));
    app.post('/admin/adapters', { schema: { body: RegisterBody, tags: ['admin'] } }, async (request, reply) => {
      const body = request.body as Static<typeof RegisterBody>;
      let listing: AdapterListing;
      try {
        listing = await ctx.adapters.register({
          path: body.path,
          name: body.name,
          price: body.price && { inputPer1k: BigInt(body.price.input_per_1k), outputPer1k: BigInt(body.price.output_per_1k) },
          owner: body.owner?.toLowerCase() as `0x${string}` | undefined,
        });
      } catch (error) {
        throw registrationError(body.path, error);
      }
      return reply.code(201).send(listingJson(listing));
    });
    app.post('/admin/adapters/:id/load', { schema: { params: IdParam, tags: ['admin'] } }, async (request) => listingJson(await ctx.adapters.load((request.params as Static<typeof IdParam>).id)));
    app.post('/admin/adapters/:id/unload', { schema: { params: IdParam, tags: ['admin'] } }, async (request) => listingJson(await ctx.adapters.unload((request.params as Static<typeof IdParam>).id)));
  };
}
