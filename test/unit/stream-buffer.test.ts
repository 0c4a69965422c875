import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StreamBuffer } from '../../core/transport/stream-buffer.ts';

test('bytes appended in any chunks come out in order, consumed from the front', () => {
  const b = new StreamBuffer();
  const text = 'INVITE sip:x SIP/2.0\r\n'.repeat(500);
  for (let i = 0; i < text.length; i += 7) b.append(Buffer.from(text.slice(i, i + 7), 'latin1'));
  assert.equal(b.view().toString('latin1'), text);
  b.consume(22);
  assert.equal(b.length, text.length - 22);
  b.append(Buffer.from('tail', 'latin1'));
  assert.equal(b.view().toString('latin1'), text.slice(22) + 'tail');
  b.consume(b.length);
  assert.equal(b.length, 0);
});

test('a view handed out earlier keeps its bytes when more arrive', () => {
  const b = new StreamBuffer();
  b.append(Buffer.from('abc'));
  b.append(Buffer.from('def'));
  const first = b.view().subarray(0, 3);
  b.consume(3);
  for (let i = 0; i < 100; i++) b.append(Buffer.from('xyz'));
  assert.equal(first.toString(), 'abc');
});
