import Type, { type Static } from 'typebox';
import { DEFAULT_API_HOST, DEFAULT_API_PORT, DEFAULT_DATA_DIR, DEFAULT_RPC_URL } from '../constants.ts';

/**
 * The node's configuration. Sources, lowest precedence first: defaults here, a JSON config
 * file, `OPENLORA_*` environment variables (named from the key path, see `envName`), and
 * command-line flags. Each subsystem adds its section here.
 */
export const ConfigSchema = Type.Object(
  {
    dataDir: Type.String({ default: DEFAULT_DATA_DIR, description: 'Directory for the ledger, keys and adapter store.' }),
    log: Type.Object(
      {
        level: Type.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
          { default: 'info', description: 'Log level.' },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    chain: Type.Object(
      {
        rpcUrl: Type.String({ default: DEFAULT_RPC_URL, pattern: '^(https?|wss?)://', description: 'EVM JSON-RPC endpoint.' }),
        deployment: Type.Optional(Type.String({ description: 'Deployment file (chainId, contract addresses).' })),
        rpcTimeoutMs: Type.Integer({ minimum: 100, maximum: 120_000, default: 3_000, description: 'RPC request timeout.' }),
      },
      { default: {}, additionalProperties: false },
    ),
    model: Type.Object(
      {
        dir: Type.Optional(Type.String({ description: 'Base model directory (Hugging Face layout).' })),
        dtype: Type.Union([Type.Literal('auto'), Type.Literal('f16'), Type.Literal('f32')], { default: 'auto', description: 'Weight dtype on the device.' }),
        backend: Type.Union([Type.Literal('webgpu'), Type.Literal('cpu')], { default: 'webgpu', description: 'Engine backend.' }),
      },
      { default: {}, additionalProperties: false },
    ),
    api: Type.Object(
      {
        host: Type.String({ default: DEFAULT_API_HOST, description: 'HTTP listen address.' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: DEFAULT_API_PORT, description: 'HTTP listen port (0 = any free port).' }),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

/** The validated configuration, every default filled in. */
export type Config = Static<typeof ConfigSchema>;
