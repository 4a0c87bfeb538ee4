import t from 'tap';
import { acceptsWebSocket, expectedAccept, switchingProtocolsHead } from '../../../src/workers/websocket/websocket-handshake.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

t.test('the accept value of RFC 6455 §1.3', async (t) => {
  t.equal(expectedAccept(KEY), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
});

t.test('a 101 is accepted only with Upgrade: websocket and the right accept value', async (t) => {
  const accept = expectedAccept(KEY);
  t.ok(acceptsWebSocket(['Upgrade', 'WebSocket', 'Sec-WebSocket-Accept', accept], KEY), 'names and the upgrade token are case-insensitive');
  t.notOk(acceptsWebSocket(['upgrade', 'websocket', 'sec-websocket-accept', accept.toLowerCase()], KEY), 'the accept value is case-sensitive');
  t.notOk(acceptsWebSocket(['upgrade', 'websocket'], KEY), 'no accept');
  t.notOk(acceptsWebSocket(['upgrade', 'h2c', 'sec-websocket-accept', accept], KEY), 'another protocol');
  t.notOk(acceptsWebSocket(['upgrade', 'websocket', 'sec-websocket-accept', expectedAccept('other')], KEY), 'another key');
});

t.test('the 101 relayed to the client', async (t) => {
  t.equal(
    switchingProtocolsHead(['sec-websocket-accept', 'abc', 'sec-websocket-protocol', 'chat'], 'vf=1; Path=/'),
    'HTTP/1.1 101 Switching Protocols\r\nsec-websocket-accept: abc\r\nsec-websocket-protocol: chat\r\nset-cookie: vf=1; Path=/\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n',
  );
  t.notMatch(switchingProtocolsHead([], undefined), /set-cookie/);
});
