import { Watchdog } from './watchdog-main';

const options = { socket: '/nonexistent/wd.sock', pidFiles: [], signal: 'SIGKILL' as const, idleExitMs: 1e9 };

describe('watchdog deadline rules', () => {
  it('a kick resting on contact sets the deadline, later or earlier', () => {
    const w = new Watchdog(options);
    w.kick(1000, true);
    expect(w.deadline).toBe(1000);
    w.kick(5000, true);
    expect(w.deadline).toBe(5000);
    w.kick(3000, true);
    expect(w.deadline).toBe(3000);
  });

  it('without contact (a restarted agent) a kick may shorten the inherited deadline, never extend it', () => {
    const w = new Watchdog(options);
    w.kick(1000, true);
    w.kick(9000, false);
    expect(w.deadline).toBe(1000);
    w.kick(500, false);
    expect(w.deadline).toBe(500);
  });

  it('without an inherited deadline a kick without contact arms it', () => {
    const w = new Watchdog(options);
    w.kick(2000, false);
    expect(w.deadline).toBe(2000);
  });

  it('null disarms (production nowhere); it fires once when the deadline passes, then is idle', () => {
    const w = new Watchdog(options);
    w.kick(1000, true);
    w.kick(null, true);
    expect(w.deadline).toBeNull();
    w.kick(1000, true);
    w.tick(999);
    expect(w.fired).toBe(0);
    w.tick(1000);
    expect(w.fired).toBe(1);
    expect(w.deadline).toBeNull();
    w.tick(5000);
    expect(w.fired).toBe(1);
  });

  it('after firing, the same expired lease does not fire it again; a new lease re-arms it', () => {
    const w = new Watchdog(options);
    w.kick(1000, true, 0);
    w.tick(1000);
    expect(w.fired).toBe(1);
    w.kick(1000, true, 1200); // a cut-off agent still reporting its expired lease
    expect(w.deadline).toBeNull();
    w.kick(4000, true, 1300); // contact again: a fresh lease
    expect(w.deadline).toBe(4000);
    w.tick(4000);
    expect(w.fired).toBe(2);
  });
});
