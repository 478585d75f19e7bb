/** On-chain half of openlora: deployment, typed contracts, EIP-712 types, fee split, attribution trees. */
export * from './adapterId.ts';
export * from './contracts.ts';
export * from './deploy.ts';
export * from './deployment.ts';
export * from './eip712.ts';
export * from './errors.ts';
export * from './merkle.ts';
export * from './receiptBatch.ts';
export * from './split.ts';
export * from './clients.ts';
export * from './context.ts';
export * from './waitForSuccess.ts';
