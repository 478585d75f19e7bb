/**
 * The WebAssembly JS API the CPU backend uses (the project's TypeScript libs leave out the DOM,
 * where TypeScript declares it). Node implements all of it.
 */
export {};

declare global {
  namespace WebAssembly {
    interface MemoryDescriptor {
      initial: number;
      maximum?: number;
      shared?: boolean;
    }
    class Memory {
      constructor(descriptor: MemoryDescriptor);
      readonly buffer: ArrayBuffer | SharedArrayBuffer;
      grow(delta: number): number;
    }
    class Module {
      constructor(bytes: BufferSource);
    }
    class Instance {
      constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
      readonly exports: Record<string, unknown>;
    }
    class Global {
      value: number;
    }
  }
}
