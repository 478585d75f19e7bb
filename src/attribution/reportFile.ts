/** Attribution report files: what an adapter owner publishes and contributors claim from. */
import { writeFile } from 'node:fs/promises';
import { readSource } from '../source.ts';
import { AttributionReportError } from './errors.ts';
import { parseAttributionReport, type AttributionReport } from './report.ts';

/** Writes a report as pretty JSON. */
export async function writeAttributionReport(file: string, report: AttributionReport): Promise<void> {
  await writeFile(file, JSON.stringify(report, null, 2) + '\n');
}

/** Reads a report file (or the `http(s)://` URL of one) and checks its tree against its root. */
export async function readAttributionReport(file: string): Promise<AttributionReport> {
  let json: unknown;
  try {
    json = JSON.parse(await readSource(file));
  } catch (cause) {
    throw new AttributionReportError(file, 'cannot be read as JSON', { cause, details: (cause as Error).message });
  }
  return parseAttributionReport(json, file);
}
