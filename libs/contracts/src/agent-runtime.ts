/**
 * How the agent process is best started: node flags (they only work on the command line, not set
 * from inside). A 1 MB young generation instead of V8's 16 MB default: an agent carrying 1,000
 * scenarios then stays at ~80 MB RSS instead of ~115 MB, for about a point more of one core in
 * scavenges (measured by node dist/bench/agent-footprint.js). The Dockerfile, `npm run agent`, the
 * demo and the test harness use them; keep those in step.
 */
export const AGENT_NODE_FLAGS = ['--max-semi-space-size=1'];
