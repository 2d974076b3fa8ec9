import { PeerVote, rawVerdict, VerdictDamper } from './verdict';

const vote = (reachable: boolean, fresh = true): PeerVote => ({
  observer: 'r',
  reachable,
  seenMsAgo: 0,
  fresh,
});

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
    expect(rawVerdict({ view: 'down', votes: [vote(true, false), vote(false)], peerQuorum: 1 }).verdict).toBe(
      'failed',
    );
  });

  it('peerQuorum 0: the orchestrator alone decides', () => {
    expect(rawVerdict({ view: 'down', votes: [], peerQuorum: 0 }).verdict).toBe('failed');
  });

  describe('self-reported application failures (relayed user checks)', () => {
    it('failed even though a peer still reaches the node: reachable is not the question', () => {
      const r = rawVerdict({
        view: 'down',
        votes: [vote(true)],
        peerQuorum: 1,
        selfReportedFailures: ['app'],
      });
      expect(r).toMatchObject({ verdict: 'failed', peersUp: 1, peersDown: 0 });
      expect(r.reason).toMatch(/reports its own check\(s\) app critical/);
    });

    it('failed without any peer vote and whatever the quorum', () => {
      expect(
        rawVerdict({ view: 'down', votes: [], peerQuorum: 3, selfReportedFailures: ['app', 'disk'] }).verdict,
      ).toBe('failed');
    });

    it('an empty list changes nothing: reachability failures still need the peers', () => {
      expect(
        rawVerdict({ view: 'down', votes: [vote(true)], peerQuorum: 1, selfReportedFailures: [] }).verdict,
      ).toBe('suspect');
    });

    it('only a down view counts (below the threshold a self-reported check is suspect, unknown stays unknown)', () => {
      expect(
        rawVerdict({ view: 'suspect', votes: [], peerQuorum: 1, selfReportedFailures: ['app'] }).verdict,
      ).toBe('suspect');
      expect(
        rawVerdict({ view: 'unknown', votes: [], peerQuorum: 1, selfReportedFailures: ['app'] }).verdict,
      ).toBe('unknown');
    });
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
    expect(d.update('healthy', 2100)).toMatchObject({
      verdict: 'healthy',
      changed: true,
      previous: 'failed',
    });
  });

  it('a failure during the hold restarts it', () => {
    const d = new VerdictDamper(1000);
    d.update('failed', 0);
    d.update('healthy', 100);
    expect(d.update('failed', 900)).toMatchObject({ verdict: 'failed', changed: false });
    expect(d.update('healthy', 1000).verdict).toBe('failed');
    expect(d.update('healthy', 1999).verdict).toBe('failed');
    expect(d.update('healthy', 2000).verdict).toBe('healthy');
  });

  it('a shorter hold applies from the next update', () => {
    const d = new VerdictDamper(10_000);
    d.update('failed', 0);
    d.update('healthy', 100);
    d.setHold(500);
    expect(d.update('healthy', 600).verdict).toBe('healthy');
  });

  it('suspect and healthy alternate freely before any failure', () => {
    const d = new VerdictDamper(1000);
    d.update('healthy', 0);
    expect(d.update('suspect', 1).verdict).toBe('suspect');
    expect(d.update('healthy', 2).verdict).toBe('healthy');
  });
});
