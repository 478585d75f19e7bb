import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { ApiContext } from './context.ts';
import { ApiError } from './errors.ts';

/** `onRequest` hook of every `/admin/*` route: `Authorization: Bearer <admin token>`, off without a configured token. */
export function adminAuth(ctx: Pick<ApiContext, 'adminToken'>): (request: FastifyRequest) => Promise<void> {
  return async (request) => {
    const expected = ctx.adminToken;
    if (!expected) throw new ApiError({ status: 403, code: 'OPENLORA_API_ADMIN_DISABLED', message: 'The admin API is off on this node.', hint: 'Start the node with an admin token (api.adminToken / OPENLORA_API_ADMIN_TOKEN).', type: 'permission_error' });
    const auth = request.headers.authorization;
    const given = Buffer.from(typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7) : '');
    const want = Buffer.from(expected);
    if (given.length !== want.length || !timingSafeEqual(given, want)) throw new ApiError({ status: 401, code: 'OPENLORA_API_ADMIN_UNAUTHORIZED', message: 'The admin token is missing or wrong.', hint: 'Send Authorization: Bearer <admin token>.' });
  };
}
