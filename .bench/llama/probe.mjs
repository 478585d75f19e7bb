import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.warn });
console.log('gpu', llama.gpu, 'cpu threads', llama.cpuMathCores);
const model = await llama.loadModel({ modelPath: '/tmp/b135g/model.gguf' });
console.log('vocab', model.tokens?.bos, model.fileInfo?.metadata?.general?.architecture);
const ctx = await model.createContext({ contextSize: 512, threads: 1, batchSize: 512, sequences: 1 });
const seq = ctx.getSequence();
const prompt = [1, 2, 3, 4, 5, 6, 7, 8];
const out = [];
let t0 = performance.now();
for await (const tok of seq.evaluate(prompt, { temperature: 0 })) { out.push(tok); if (out.length >= 32) break; }
console.log('tokens', out.join(','), ((performance.now() - t0)).toFixed(0), 'ms');
