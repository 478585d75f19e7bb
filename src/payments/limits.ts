/** Defaults of the paid gate's bounds (config `payments.*`), in one light module the config schema can import. */

/** `payments.channelCacheSize`: channels (known and unknown) whose chain state is cached. */
export const DEFAULT_CHANNEL_CACHE_SIZE = 10_000;
/** `payments.channelLookupsPerSecond`: chain reads a second for channels not cached (a made-up channel id costs one). */
export const DEFAULT_CHANNEL_LOOKUPS_PER_SECOND = 50;
/** `payments.accountCacheSize`: verified channels whose lanes are kept in memory. */
export const DEFAULT_ACCOUNT_CACHE_SIZE = 10_000;
