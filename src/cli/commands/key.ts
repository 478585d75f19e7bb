import { Command } from 'commander';
import { readKeyAddress, readPrivateKeyFile, writeKeyFile } from '../../keys/account.ts';
import { DEFAULT_SCRYPT, LIGHT_SCRYPT } from '../../keys/keystore.ts';
import { resolvePassphrase } from '../../keys/passphrase.ts';

interface KeyWriteOptions {
  out: string;
  passphraseFile?: string;
  light?: boolean;
  json?: boolean;
}

const print = (json: boolean | undefined, value: Record<string, string>, text: string) =>
  process.stdout.write(json ? JSON.stringify(value) + '\n' : text + '\n');

/** `openlora key new|import|address`: node keys in encrypted Web3 Secret Storage v3 keystores. */
export function registerKey(program: Command): void {
  const key = new Command('key').description('node keys: encrypted keystore files (Web3 Secret Storage v3, scrypt + aes-128-ctr)');

  key
    .command('new')
    .description('create a random key and write it encrypted to --out (never overwrites)')
    .requiredOption('--out <file>', 'keystore file to write (mode 0600)')
    .option('--passphrase-file <file>', 'file holding the passphrase (default: $OPENLORA_KEY_PASSPHRASE)')
    .option('--light', 'cheap scrypt (N=2^12) for throwaway dev keys')
    .option('--json', 'print {"address","keyFile"} as JSON')
    .action(async (options: KeyWriteOptions) => {
      const passphrase = await resolvePassphrase({ passphraseFile: options.passphraseFile });
      const address = await writeKeyFile({ keyFile: options.out, passphrase, scrypt: options.light ? LIGHT_SCRYPT : DEFAULT_SCRYPT });
      print(options.json, { address, keyFile: options.out }, `${address}  (written to ${options.out})`);
    });

  key
    .command('import')
    .description('encrypt an existing private key, read from a file (never from the command line), into --out')
    .requiredOption('--private-key-file <file>', 'file holding the 32-byte private key in hex')
    .requiredOption('--out <file>', 'keystore file to write (mode 0600)')
    .option('--passphrase-file <file>', 'file holding the passphrase (default: $OPENLORA_KEY_PASSPHRASE)')
    .option('--light', 'cheap scrypt (N=2^12) for throwaway dev keys')
    .option('--json', 'print {"address","keyFile"} as JSON')
    .action(async (options: KeyWriteOptions & { privateKeyFile: string }) => {
      const passphrase = await resolvePassphrase({ passphraseFile: options.passphraseFile });
      const privateKey = await readPrivateKeyFile(options.privateKeyFile);
      const address = await writeKeyFile({ keyFile: options.out, passphrase, privateKey, scrypt: options.light ? LIGHT_SCRYPT : DEFAULT_SCRYPT });
      print(options.json, { address, keyFile: options.out }, `${address}  (written to ${options.out})`);
    });

  key
    .command('address')
    .description('print the address of a keystore (decrypts only if the file does not state it)')
    .requiredOption('--key-file <file>', 'keystore file')
    .option('--passphrase-file <file>', 'file holding the passphrase (default: $OPENLORA_KEY_PASSPHRASE)')
    .option('--json', 'print {"address"} as JSON')
    .action(async (options: { keyFile: string; passphraseFile?: string; json?: boolean }) => {
      const address = await readKeyAddress({ keyFile: options.keyFile, passphrase: () => resolvePassphrase({ passphraseFile: options.passphraseFile }) });
      print(options.json, { address }, address);
    });

  program.addCommand(key);
}
