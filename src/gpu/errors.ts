import { BaseError, type BaseErrorParameters } from '../errors.ts';

/** No WebGPU adapter: Dawn found no Vulkan driver. */
export class GpuAdapterNotFoundError extends BaseError {
  override name = 'GpuAdapterNotFoundError' as const;
  constructor(parameters: BaseErrorParameters = {}) {
    super('OPENLORA_GPU_ADAPTER_NOT_FOUND', 'No WebGPU adapter was found (Dawn found no Vulkan driver).', {
      hint:
        'Run `npm run setup` (installs Mesa lavapipe on Debian), or install a Vulkan driver by hand ' +
        '(Debian 13: `apt-get install mesa-vulkan-drivers`; Debian 12: the same from bookworm-backports). ' +
        'Check VK_ICD_FILENAMES / VK_DRIVER_FILES if set. `openlora doctor` shows what is found.',
      ...parameters,
    });
  }
}

/** The adapter lacks a feature the caller required. */
export class GpuFeatureMissingError extends BaseError {
  override name = 'GpuFeatureMissingError' as const;
  constructor(feature: string, available: string[]) {
    super('OPENLORA_GPU_FEATURE_MISSING', `The WebGPU adapter lacks the required feature "${feature}".`, {
      details: `available: ${available.join(', ') || '(none)'}`,
      hint: 'Use a driver that exposes it, or choose a setting that does not need it (e.g. --dtype f32 without shader-f16).',
    });
  }
}

/** The device was lost (driver reset, out of memory, destroyed while in use). */
export class GpuDeviceLostError extends BaseError {
  override name = 'GpuDeviceLostError' as const;
  constructor(reason: string, message: string) {
    super('OPENLORA_GPU_DEVICE_LOST', `The WebGPU device was lost (${reason}).`, {
      details: message,
      hint: 'Restart the node. If it repeats, lower the memory budget (--gpu-memory) or check the driver with `openlora doctor`.',
    });
  }
}

/** A GPU validation or out-of-memory error surfaced by an error scope. */
export class GpuValidationError extends BaseError {
  override name = 'GpuValidationError' as const;
  constructor(what: string, message: string) {
    super('OPENLORA_GPU_VALIDATION', `WebGPU rejected ${what}.`, { details: message, hint: 'This is a bug in openlora; please report it with the log.' });
  }
}
