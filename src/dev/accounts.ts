/** The dev accounts (own module: `run.ts` and `envFile.ts` both need them, and import each other's other parts). */

/**
 * Hardhat's well-known development mnemonic. Its keys are public: they exist only on the local
 * chain `openlora dev` starts, never anywhere with value.
 */
export const DEV_MNEMONIC = 'test test test test test test test test test test test junk';

/** Roles of the dev accounts (indices into the mnemonic). */
export const DEV_ROLES = { deployer: 0, node: 1, payer: 2, owner: 3, contributors: [4, 5, 6], treasury: 7 } as const;
