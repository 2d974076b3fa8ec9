/**
 * The `_ha-epoch.<name>` TXT record written in the same UPDATE as the record it guards, so the
 * server itself remembers which epoch (and scenario) last wrote the record.
 */
export const EPOCH_MARKER_LABEL = '_ha-epoch';

export interface EpochMarker {
  epoch: number;
  scenarioId?: string;
}

export const epochMarkerName = (name: string): string => `${EPOCH_MARKER_LABEL}.${name}`;

export const formatEpochMarker = (epoch: number, scenarioId: string): string =>
  `epoch=${epoch} scenario=${scenarioId}`;

/** The marker in one TXT string, or undefined when the text is not one of ours. */
export function parseEpochMarker(text: string): EpochMarker | undefined {
  const match = /^epoch=(\d{1,15})(?: scenario=(\S+))?$/.exec(text.trim());
  if (!match) return undefined;
  return match[2] === undefined
    ? { epoch: Number(match[1]) }
    : { epoch: Number(match[1]), scenarioId: match[2] };
}

/** The newest marker among the strings of a TXT RRset (normally there is exactly one). */
export function newestEpochMarker(texts: string[]): EpochMarker | undefined {
  return texts
    .map(parseEpochMarker)
    .filter((m): m is EpochMarker => m !== undefined)
    .reduce<EpochMarker | undefined>((best, m) => (!best || m.epoch > best.epoch ? m : best), undefined);
}
