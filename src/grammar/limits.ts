/** Defaults of the grammar caches (config `grammar.*`): compiled grammars kept, and bytes of cached token masks. */
export const GRAMMAR_DEFAULTS = { grammars: 256, maskCacheBytes: 64 * 2 ** 20 } as const;
