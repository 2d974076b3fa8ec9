/**
 * The UDP heartbeat benchmark's reference: a bare node:dgram server doing the least a heartbeat
 * needs (read the node id and sequence number, update a per-node map entry, answer with a datagram
 * the size of an acknowledgement), on the core the orchestrator gets. Run as a child with IPC:
 * `node dist/bench/lib/udp-reference.js <port>`; prints "listening"; answers "count" messages with
 * the number of datagrams taken.
 */
import dgram from 'node:dgram';

const port = Number(process.argv[2] ?? 18138);
const live = new Map<string, { at: number; seq: number }>();
let count = 0;
const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
socket.on('message', (msg, rinfo) => {
  if (msg.length < 40) return;
  const id = msg.toString('hex', 4, 20);
  const seq = msg.readUInt32BE(36);
  const prev = live.get(id);
  if (prev && seq <= prev.seq) return;
  live.set(id, { at: Date.now(), seq });
  count++;
  const ack = Buffer.allocUnsafe(114);
  msg.copy(ack, 0, 0, 40);
  ack.writeDoubleBE(Date.now(), 41);
  socket.send(ack, rinfo.port, rinfo.address);
});
process.on('message', () => process.send?.(String(count)));
socket.bind(port, '127.0.0.1', () => process.stdout.write('listening\n'));
