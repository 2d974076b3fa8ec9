/**
 * How the agent process is best started: node flags (they only work on the command line, not set
 * from inside), measured by node dist/bench/agent-footprint.js at 1,000 scenarios:
 * - a 1 MB young generation instead of V8's 16 MB default: ~30 MB less RSS, for about a point
 *   more of one core in scavenges;
 * - one V8 background thread instead of four (--v8-pool-size=1): ~4 MB less RSS (each thread
 *   keeps its own stack and malloc arena); the agent has little for them to do (CPU unchanged).
 * The Dockerfile, `npm run agent`, the demo and the test harness use them; keep those in step.
 */
export const AGENT_NODE_FLAGS = ['--max-semi-space-size=1', '--v8-pool-size=1'];
