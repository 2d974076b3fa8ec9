import { ConflictError, InvalidInputError } from '../../common/errors';
import { DnsRecordWrite } from '../dns-provider.interface';
import { StaleEpochError } from '../embedded/stale-epoch.error';
import { rdataTxt } from './dns-wire';
import { DnsUpdateError, DnsUpdatePrerequisiteError } from './dns-update.error';
import { formatEpochMarker } from './epoch-marker';
import { Rfc2136Client } from './rfc2136.client';
import { MarkerReading, Rfc2136Provider } from './rfc2136.provider';
import { UpdateRequest } from './update-message';

const write = (overrides: Partial<DnsRecordWrite> = {}): DnsRecordWrite => ({
  zone: 'example.test',
  name: 'app.example.test',
  type: 'A',
  ttl: 30,
  value: '10.0.0.1',
  epoch: 5,
  scenarioId: 'scenario-1',
  ...overrides,
});

const reading = (epoch?: number, scenarioId = 'scenario-1'): MarkerReading =>
  epoch === undefined
    ? { rdatas: [] }
    : { marker: { epoch, scenarioId }, rdatas: [rdataTxt([formatEpochMarker(epoch, scenarioId)])] };

/** The provider with its server-facing parts replaced: marker readings in order, a recording client. */
function setup(readings: MarkerReading[], updateResults: (Error | undefined)[] = []) {
  const sent: UpdateRequest[] = [];
  const client = {
    update: jest.fn(async (request: UpdateRequest) => {
      sent.push(request);
      const result = updateResults.shift();
      if (result) throw result;
    }),
  } as unknown as Rfc2136Client;
  class ScriptedProvider extends Rfc2136Provider {
    override async readEpochMarker(): Promise<MarkerReading> {
      const next = readings.shift();
      if (!next) throw new Error('no more readings scripted');
      return next;
    }
  }
  const provider = new ScriptedProvider(
    {
      server: '127.0.0.1',
      port: 1,
      keyName: 'k',
      keySecretBase64: 'c2VjcmV0',
      algorithm: 'hmac-sha256',
      timeoutMs: 100,
    },
    client,
  );
  return { provider, sent };
}

const prerequisiteFailed = () =>
  new DnsUpdatePrerequisiteError('changed', { rcode: 'NXRRSET', retryable: true });

describe('Rfc2136Provider.apply epoch fencing', () => {
  it('refuses an epoch lower than the marker without sending an update', async () => {
    const { provider, sent } = setup([reading(6)]);
    await expect(provider.apply(write({ epoch: 5 }))).rejects.toMatchObject({
      constructor: StaleEpochError,
      current: 6,
      attempted: 5,
    });
    expect(sent).toHaveLength(0);
  });

  it('writes on an equal or higher epoch, guarded by the marker it read', async () => {
    const { provider, sent } = setup([reading(5), reading(undefined)]);
    await provider.apply(write({ epoch: 5 }));
    expect(sent[0].prerequisites).toEqual([expect.objectContaining({ kind: 'rrsetEquals' })]);
    await provider.apply(write({ epoch: 1 }));
    expect(sent[1].prerequisites).toEqual([expect.objectContaining({ kind: 'rrsetAbsent' })]);
  });

  it('reads again when the marker changed under it, and then refuses if it became newer', async () => {
    const { provider, sent } = setup([reading(4), reading(9)], [prerequisiteFailed()]);
    await expect(provider.apply(write({ epoch: 5 }))).rejects.toBeInstanceOf(StaleEpochError);
    expect(sent).toHaveLength(1);
  });

  it('retries after a changed marker that is still older, then succeeds', async () => {
    const { provider, sent } = setup([reading(3), reading(4)], [prerequisiteFailed()]);
    await provider.apply(write({ epoch: 5 }));
    expect(sent).toHaveLength(2);
  });

  it('gives up after three contended rounds with a retryable error', async () => {
    const { provider, sent } = setup(
      [reading(1), reading(2), reading(3)],
      [prerequisiteFailed(), prerequisiteFailed(), prerequisiteFailed()],
    );
    await expect(provider.apply(write())).rejects.toMatchObject({
      constructor: DnsUpdatePrerequisiteError,
      retryable: true,
    });
    expect(sent).toHaveLength(3);
  });

  it('does not retry other update errors', async () => {
    const { provider, sent } = setup([reading(1)], [new DnsUpdateError('no', { rcode: 'REFUSED' })]);
    await expect(provider.apply(write())).rejects.toMatchObject({ rcode: 'REFUSED', retryable: false });
    expect(sent).toHaveLength(1);
  });

  it('refuses a record marked by another scenario', async () => {
    const { provider, sent } = setup([reading(1, 'scenario-2')]);
    await expect(provider.apply(write({ epoch: 50 }))).rejects.toBeInstanceOf(ConflictError);
    expect(sent).toHaveLength(0);
  });

  it('validates the write before asking the server anything', async () => {
    const { provider } = setup([]);
    await expect(provider.apply(write({ value: 'nope' }))).rejects.toBeInstanceOf(InvalidInputError);
  });
});
