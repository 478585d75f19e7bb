import { describe, expect, it } from 'vitest';
import { sanitizeForTerminal, writeModelText } from '../../src/cli/terminal.ts';

describe('model text on a terminal', () => {
  it('replaces control characters and bidi overrides, keeps newlines, tabs and other text', () => {
    expect(sanitizeForTerminal('a\u001b[2Jb\rc\u0007d\u009be\u202ef\n\tg é 漢')).toBe('a\uFFFD[2Jb\uFFFDc\uFFFDd\uFFFDe\uFFFDf\n\tg é 漢');
  });

  it('writes raw to a pipe or file and sanitized to a terminal', () => {
    const written: string[] = [];
    const stream = (isTTY: boolean) => ({ isTTY, write: (s: string) => written.push(s) }) as unknown as NodeJS.WriteStream;
    writeModelText(stream(false), 'x\u001by');
    writeModelText(stream(true), 'x\u001by');
    expect(written).toEqual(['x\u001by', 'x\uFFFDy']);
  });
});
