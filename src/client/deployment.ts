import type { Address } from 'viem';

/**
 * What the SDK reads of a deployment file (`openlora chain deploy`'s output, or
 * `.openlora/dev/deployment.json`): parse the file's JSON and pass it as is.
 */
export interface ClientDeployment {
  chainId: number;
  contracts: { token: Address; paymentChannels: Address; nodeRegistry: Address };
}
