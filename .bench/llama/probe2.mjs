import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.warn });
const model = await llama.loadModel({ modelPath: '/tmp/b135g/model.gguf' });
for (const threads of [1, 2]) {
  const ctx = await model.createContext({ contextSize: 512, threads, batchSize: 512, sequences: 1 });
  const seq = ctx.getSequence();
  const out = [];
  let t0, c0;
  for await (const tok of seq.evaluate([1,2,3,4,5,6,7,8], { temperature: 0 })) { if (!out.length) { t0 = performance.now(); c0 = process.cpuUsage(); } out.push(tok); if (out.length >= 33) break; }
  const wall = performance.now() - t0; const cu = process.cpuUsage(c0);
  console.log(threads, 'wall tok/s', (32 / wall * 1000).toFixed(1), 'cpu/wall', ((cu.user + cu.system) / 1000 / wall).toFixed(2));
  await ctx.dispose();
}
