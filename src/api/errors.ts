import type { FastifyError, FastifyInstance } from 'fastify';
import { BaseError } from '../errors.ts';
import type { Logger } from '../log.ts';

/** An error the API reports with a given HTTP status and OpenAI error `type`/`code`. */
export class ApiError extends BaseError {
  override name = 'ApiError' as const;
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  readonly headers: Record<string, string>;
  constructor(parameters: { status: number; code: string; message: string; type?: string; param?: string | null; hint?: string; headers?: Record<string, string> }) {
    super(parameters.code, parameters.message, { hint: parameters.hint });
    this.status = parameters.status;
    this.type = parameters.type ?? (parameters.status === 429 ? 'rate_limit_error' : parameters.status === 401 ? 'authentication_error' : 'invalid_request_error');
    this.param = parameters.param ?? null;
    this.headers = parameters.headers ?? {};
  }
}

/** HTTP status of each openlora error code reaching the API; anything else is a 500. */
const STATUS: Record<string, number> = {
  OPENLORA_SERVING_MODEL_NOT_FOUND: 404,
  OPENLORA_SERVING_CONTEXT_EXCEEDED: 400,
  OPENLORA_SERVING_INPUT: 400,
  OPENLORA_SCHEDULER_REQUEST_TOO_LARGE: 400,
  OPENLORA_SCHEDULER_QUEUE_FULL: 429,
  OPENLORA_SCHEDULER_ADAPTER_UNAVAILABLE: 503,
  OPENLORA_SCHEDULER_STOPPED: 503,
  OPENLORA_PAYMENT_UNAUTHORIZED: 401,
  OPENLORA_PAYMENT_REQUIRED: 402,
  OPENLORA_PAYMENT_CHAIN_UNAVAILABLE: 503,
  OPENLORA_NODE_TERMS_UNKNOWN: 503,
  OPENLORA_NODE_ADAPTER_NOT_ON_CHAIN: 503,
  OPENLORA_PAYMENT_LOOKUPS_LIMITED: 429,
  OPENLORA_ENGINE_TOKEN_OUT_OF_RANGE: 400,
  OPENLORA_ENGINE_CONTEXT_EXCEEDED: 400,
  OPENLORA_ENGINE_SAMPLING_PARAMS: 400,
};

/** The OpenAI error body for any error, and its status. 5xx bodies hide internals. */
export function toOpenAiError(error: unknown): { status: number; body: { error: { message: string; type: string; param: string | null; code: string } }; headers: Record<string, string> } {
  if (error instanceof ApiError) {
    return { status: error.status, headers: error.headers, body: { error: { message: error.message, type: error.type, param: error.param, code: error.code } } };
  }
  if (error instanceof BaseError && STATUS[error.code]) {
    const status = STATUS[error.code];
    const headers: Record<string, string> = {};
    const retry = (error as { retryAfterMs?: number }).retryAfterMs;
    if (retry !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(retry / 1000)));
    const type = status === 429 ? 'rate_limit_error' : status === 401 ? 'authentication_error' : status === 402 ? 'payment_required' : status >= 500 ? 'server_error' : 'invalid_request_error';
    const extra = (error as { body?: Record<string, unknown> }).body;
    return { status, headers, body: { error: { message: error.message, type, param: null, code: error.code, ...extra } } };
  }
  const fe = error as FastifyError & { validation?: Array<{ instancePath: string; message?: string; params?: Record<string, unknown> }> };
  if (fe?.validation) {
    const first = fe.validation[0];
    const param = first?.instancePath?.replace(/^\//, '').replaceAll('/', '.') || String(first?.params?.missingProperty ?? first?.params?.requiredProperties ?? '') || null;
    return { status: 400, headers: {}, body: { error: { message: `Invalid request: ${fe.message}.`, type: 'invalid_request_error', param, code: 'OPENLORA_API_INVALID_REQUEST' } } };
  }
  if (fe?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    // `curl -d` without -H sends application/x-www-form-urlencoded: say what to send instead.
    const message = `${fe.message}. The API takes JSON bodies: send the header Content-Type: application/json (with curl: -H 'content-type: application/json'; -d alone sends a form).`;
    return { status: 415, headers: {}, body: { error: { message, type: 'invalid_request_error', param: null, code: 'OPENLORA_API_UNSUPPORTED_MEDIA_TYPE' } } };
  }
  if (fe?.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, headers: {}, body: { error: { message: fe.message, type: 'invalid_request_error', param: null, code: fe.code ? `OPENLORA_API_${fe.code}` : 'OPENLORA_API_BAD_REQUEST' } } };
  }
  return { status: 500, headers: {}, body: { error: { message: 'The node failed to process the request; the operator can find the cause in its log.', type: 'server_error', param: null, code: 'OPENLORA_API_INTERNAL' } } };
}

/** Installs the one error handler and the 404 handler. */
export function installErrorHandler(app: FastifyInstance, log: Logger): void {
  app.setErrorHandler((error, request, reply) => {
    const { status, body, headers } = toOpenAiError(error);
    if (status >= 500) log.error({ err: error, url: request.url }, 'request failed');
    else log.debug({ code: body.error.code, url: request.url }, 'request rejected');
    void reply.code(status).headers(headers).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: { message: `No route ${request.method} ${request.url}.`, type: 'invalid_request_error', param: null, code: 'OPENLORA_API_NOT_FOUND' } });
  });
}
