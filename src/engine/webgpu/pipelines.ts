import { shaderSource, variantName, type ShaderDefines } from './shaderSource.ts';

/** How a kernel binds one resource: uniform, read-only storage or read-write storage. */
export type BindingKind = 'uniform' | 'read' | 'storage';

/** A compiled kernel with its explicit bind group layout (shared by every variant of a file). */
export interface Kernel {
  readonly name: string;
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
}

/** Creates kernels once per variant name and reuses them. */
export interface PipelineCache {
  kernel(file: string, bindings: readonly BindingKind[], defines?: ShaderDefines): Kernel;
  /** Kernels compiled so far. */
  readonly size: number;
}

/** Creates a {@link PipelineCache} on `device`. */
export function createPipelineCache(device: GPUDevice): PipelineCache {
  const kernels = new Map<string, Kernel>();
  const layouts = new Map<string, GPUBindGroupLayout>();
  const layoutFor = (bindings: readonly BindingKind[]): GPUBindGroupLayout => {
    const key = bindings.join(',');
    let layout = layouts.get(key);
    if (!layout) {
      layout = device.createBindGroupLayout({
        label: key,
        entries: bindings.map((kind, binding) => ({
          binding,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: kind === 'uniform' ? 'uniform' : kind === 'read' ? 'read-only-storage' : 'storage' },
        })),
      });
      layouts.set(key, layout);
    }
    return layout;
  };
  return {
    kernel(file, bindings, defines = {}) {
      const name = variantName(file, defines);
      let k = kernels.get(name);
      if (!k) {
        const layout = layoutFor(bindings);
        const module = device.createShaderModule({ label: name, code: shaderSource(file, defines) });
        const pipeline = device.createComputePipeline({
          label: name,
          layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
          compute: { module, entryPoint: 'main' },
        });
        k = { name, pipeline, layout };
        kernels.set(name, k);
      }
      return k;
    },
    get size() {
      return kernels.size;
    },
  };
}

/** A bind group of `kernel` over whole buffers, in binding order. */
export function bindBuffers(device: GPUDevice, kernel: Kernel, buffers: readonly GPUBuffer[]): GPUBindGroup {
  return device.createBindGroup({
    label: kernel.name,
    layout: kernel.layout,
    entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
}
