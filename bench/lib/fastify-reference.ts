/**
 * The heartbeat benchmark's reference: a bare Fastify handler doing the same work a heartbeat
 * needs at minimum (parse the JSON body, update a per-node map entry, answer with an assignment of
 * the same size as the orchestrator's), on the same core the orchestrator gets. Run as a child:
 * `node dist/bench/lib/fastify-reference.js <port>`; prints "listening" when ready.
 */
import Fastify from 'fastify';

const port = Number(process.argv[2] ?? 18134);
const app = Fastify({ logger: false, bodyLimit: 256 * 1024 });
const live = new Map<string, { at: number; seq: number; report: unknown }>();

app.post('/api/v1/heartbeats', async (req) => {
  const hb = req.body as { nodeId: string; seq: number; scenarios: { scenarioId: string; epoch: number }[] };
  live.set(hb.nodeId, { at: Date.now(), seq: hb.seq, report: hb });
  const s = hb.scenarios[0];
  return {
    nodeId: hb.nodeId,
    serverTime: Date.now(),
    scenarios: s
      ? [
          {
            scenarioId: s.scenarioId,
            name: 'hb-s0',
            epoch: s.epoch,
            role: 'production',
            productionNodeId: hb.nodeId,
            activeNodeId: hb.nodeId,
            leaseMs: 2500,
            peers: [{ nodeId: hb.nodeId, name: 'hb-1', agentUrl: 'http://10.133.0.1:7400' }],
            peerToken: 'reference-peer-token-0123456789abcdef0123456789abcdef',
          },
        ]
      : [],
  };
});

app.listen({ port, host: '127.0.0.1' }).then(
  () => process.stdout.write('listening\n'),
  (err: Error) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  },
);
