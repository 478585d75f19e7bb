import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { uiAssets } from '../../ui/assets.ts';
import type { ApiContext } from '../context.ts';
import { ApiError } from '../errors.ts';

/** Scripts and styles come from the node only; the contributor page reads any chain RPC the user names. */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src *; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/**
 * The web pages (config `ui.enabled`): the operator page at `/`, the contributor page at
 * `/rewards`, their scripts and styles under `/ui/`. Built once per process (src/ui/assets.ts).
 */
export function pageRoutes(ctx: ApiContext): FastifyPluginAsync {
  return async (app) => {
    if (!ctx.pages) return;
    const send = async (name: string, request: FastifyRequest, reply: FastifyReply) => {
      const file = (await uiAssets()).get(name);
      if (!file) throw new ApiError({ status: 404, code: 'OPENLORA_API_NOT_FOUND', message: `No page file ${name}.`, hint: 'The pages are / and /rewards.' });
      void reply.header('etag', file.etag).header('cache-control', 'no-cache').header('x-content-type-options', 'nosniff');
      if (file.type.startsWith('text/html')) void reply.header('content-security-policy', CSP).header('referrer-policy', 'no-referrer');
      if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
      return reply.type(file.type).send(file.body);
    };
    app.get('/', { schema: { tags: ['pages'], summary: 'Operator page (HTML)' } }, (request, reply) => send('index.html', request, reply));
    app.get('/rewards', { schema: { tags: ['pages'], summary: 'Contributor rewards page (HTML)' } }, (request, reply) => send('rewards.html', request, reply));
    app.get('/ui/:file', { schema: { hide: true, params: { type: 'object', properties: { file: { type: 'string', pattern: '^[a-z0-9-]+\\.(js|css)$' } }, required: ['file'] } } }, (request, reply) =>
      send(`ui/${(request.params as { file: string }).file}`, request, reply),
    );
  };
}
