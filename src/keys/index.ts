/** Node keys: encrypted Web3 Secret Storage v3 keystores and viem accounts from them. */
export * from './account.ts';
export * from './errors.ts';
export * from './keystore.ts';
export * from './passphrase.ts';
