import { PeerVote, rawVerdict, VerdictDamper } from './verdict';

const vote = (reachable: boolean, fresh = true): PeerVote => ({ observer: 'r', reachable, seenMsAgo: 0, fresh });

describe('rawVerdict', () => {
  it('healthy when the orchestrator sees it up', () => {
    expect(rawVerdict({ view: 'up', votes: [], peerQuorum: 1 }).verdict).toBe('healthy');
  });

  it('down + quorum of peers that lost it → failed', () => {
    expect(rawVerdict({ view: 'down', votes: [vote(false)], peerQuorum: 1 }).verdict).toBe('failed');
  });

  it('down but a replica still reaches it → suspect (orchestrator may be the one cut off)', () => {
    const r = rawVerdict({ view: 'down', votes: [vote(true), vote(false)], peerQuorum: 1 });
    expect(r.verdict).toBe('suspect');
    expect(r.reason).toMatch(/still reach/);
  });

  it('down without enough peer confirmations → suspect', () => {
    expect(rawVerdict({ view: 'down', votes: [vote(false)], peerQuorum: 2 }).verdict).toBe('suspect');
    expect(rawVerdict({ view: 'down', votes: [], peerQuorum: 1 }).verdict).toBe('suspect');
  });

  it('stale votes do not count', () => {
    expect(rawVerdict({ view: 'down', votes: [vote(false, false)], peerQuorum: 1 }).verdict).toBe('suspect');
    expect(rawVerdict({ view: 'down', votes: [vote(true, false), vote(false)], peerQuorum: 1 }).verdict).toBe('failed');
  });

  it('peerQuorum 0: the orchestrator alone decides', () => {
    expect(rawVerdict({ view: 'down', votes: [], peerQuorum: 0 }).verdict).toBe('failed');
  });
});

describe('VerdictDamper', () => {
  it('keeps failed until healthy for the whole hold period', () => {
    const d = new VerdictDamper(1000);
    expect(d.update('failed', 0)).toMatchObject({ verdict: 'failed', changed: true });
    expect(d.update('healthy', 100).verdict).toBe('failed');
    expect(d.update('healthy', 900).verdict).toBe('failed');
    expect(d.update('suspect', 1000).verdict).toBe('failed');
    expect(d.update('healthy', 1100).verdict).toBe('failed');
    expect(d.update('healthy', 2099).verdict).toBe('failed');
    expect(d.update('healthy', 2100)).toMatchObject({ verdict: 'healthy', changed: true, previous: 'failed' });
  });

  it('suspect and healthy alternate freely before any failure', () => {
    const d = new VerdictDamper(1000);
    d.update('healthy', 0);
    expect(d.update('suspect', 1).verdict).toBe('suspect');
    expect(d.update('healthy', 2).verdict).toBe('healthy');
  });
});
