import { BaseError } from '../errors.ts';

/** JSON Schema keywords constrained decoding implements (OpenAI strict mode's subset, plus annotations). */
export const SUPPORTED_SCHEMA_KEYWORDS = ['type', 'properties', 'required', 'additionalProperties', 'items', 'minItems', 'maxItems', 'enum', 'const', 'anyOf', '$ref', '$defs', 'definitions'] as const;

/**
 * A JSON Schema the grammar compiler cannot turn into a grammar whose every output validates: a
 * keyword outside the supported subset, a malformed value, or (strict mode) a rule OpenAI's strict
 * mode enforces. `keyword` and `path` (a JSON pointer into the schema) name the culprit.
 */
export class GrammarSchemaError extends BaseError {
  override name = 'GrammarSchemaError' as const;
  readonly keyword: string;
  readonly path: string;
  constructor(parameters: { keyword: string; path: string; problem: string; hint?: string }) {
    super('OPENLORA_GRAMMAR_SCHEMA_UNSUPPORTED', `The schema's "${parameters.keyword}" at ${parameters.path || '#'} ${parameters.problem}.`, {
      hint: parameters.hint ?? `Constrained decoding supports ${SUPPORTED_SCHEMA_KEYWORDS.join(', ')} and the annotations title, description, default, examples, $comment, $schema; remove or rewrite the keyword.`,
      meta: { keyword: parameters.keyword, path: parameters.path },
    });
    this.keyword = parameters.keyword;
    this.path = parameters.path;
  }
}
