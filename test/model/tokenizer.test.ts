import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/model/load.ts';
import { createChatTemplate } from '../../src/model/tokenizer.ts';
import { createTinyModel } from '../fixtures/model.ts';

describe('tokenizer of generated models', () => {
  it('round-trips text byte by byte and knows the special tokens', async () => {
    const model = await loadModel({ dir: await createTinyModel() });
    const tok = model.tokenizer!;
    for (const text of ['Hello, world!', '  leading spaces\nand lines\t', 'ünïcödé 日本語 🎉', '']) {
      const ids = tok.encode(text);
      expect(ids.length).toBe(Buffer.byteLength(text));
      expect(ids).toEqual([...Buffer.from(text)]);
      expect(tok.decode(ids)).toBe(text);
    }
    expect(tok.tokenToId('<|im_end|>')).toBe(259);
    expect(tok.encode('a<|im_end|>b')).toEqual([97, 259, 98]);
    expect(tok.decode([97, 259, 98])).toBe('ab');
    expect(tok.decode([97, 259, 98], { skipSpecialTokens: false })).toBe('a<|im_end|>b');
    expect(tok.encode('hi', { addSpecialTokens: true })).toEqual([256, 104, 105]);
    await model.close();
  });

  it('renders the ChatML chat template', async () => {
    const model = await loadModel({ dir: await createTinyModel() });
    const text = model.chatTemplate!.render({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
      ],
      addGenerationPrompt: true,
    });
    expect(text).toBe('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
    const ids = model.tokenizer!.encode(text);
    expect(ids.filter((t) => t === 258).length).toBe(3);
    await model.close();
  });

  it('uses bos_token from the config and the default of a template list; reports bad templates', () => {
    const t = createChatTemplate({ tokenizerConfig: { bos_token: { content: '<s>' }, chat_template: [{ name: 'tool_use', template: 'x' }, { name: 'default', template: '{{ bos_token }}{{ messages[0].content }}' }] }, file: 'tc.json' });
    expect(t!.render({ messages: [{ role: 'user', content: 'q' }] })).toBe('<s>q');
    expect(() => createChatTemplate({ tokenizerConfig: { chat_template: '{% for %}' }, file: 'tc.json' })).toThrow(expect.objectContaining({ code: 'OPENLORA_MODEL_TOKENIZER_INVALID' }));
  });
});
