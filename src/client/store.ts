/**
 * Optional persistent lane state of the client SDK: the last acknowledged total of each lane and
 * the cursor of its receipts, so a restarted payer resumes from what it signed even if the node
 * forgot it. Any `{ get, set }` of strings works; two are provided.
 */

/** Key-value storage of strings (sync or async). */
export interface PaidClientStore {
  get(key: string): string | undefined | null | Promise<string | undefined | null>;
  set(key: string, value: string): void | Promise<void>;
}

/** The few `node:fs/promises` functions the file store uses (typed here: the SDK builds without Node's types). */
interface NodeFs {
  readFile(path: string, encoding: 'utf8'): Promise<string>;
  writeFile(path: string, data: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  mkdir(path: string, options: { recursive: true }): Promise<unknown>;
}

/** A JSON file in Node (written atomically: temp file, then rename). Loads `node:fs` only when used, so browser bundles carry none of it. */
export function createFileStore(path: string): PaidClientStore {
  let data: Record<string, string> | undefined;
  let writing = Promise.resolve();
  const fsModule = 'node:fs/promises';
  const fs = () => import(fsModule) as Promise<NodeFs>;
  const load = async () => {
    if (data) return data;
    try {
      data = JSON.parse(await (await fs()).readFile(path, 'utf8')) as Record<string, string>;
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT') throw error;
      data = {};
    }
    return data;
  };
  return {
    async get(key) {
      return (await load())[key];
    },
    async set(key, value) {
      (await load())[key] = value;
      const text = JSON.stringify(data);
      writing = writing.then(async () => {
        const { mkdir, rename, writeFile } = await fs();
        const dir = path.slice(0, Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')));
        if (dir) await mkdir(dir, { recursive: true });
        await writeFile(`${path}.tmp`, text);
        await rename(`${path}.tmp`, path);
      });
      await writing;
    },
  };
}

/** `localStorage` (or any Web Storage) in browsers. */
export function createLocalStorageStore(storage: Pick<Storage, 'getItem' | 'setItem'> = globalThis.localStorage, prefix = 'openlora:'): PaidClientStore {
  return {
    get: (key) => storage.getItem(prefix + key),
    set: (key, value) => storage.setItem(prefix + key, value),
  };
}
