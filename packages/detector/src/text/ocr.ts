/**
 * One tesseract.js worker, with English LSTM data from the `@tesseract.js-data/eng` package (nothing is
 * downloaded: the language file is read from node_modules and not cached anywhere), set up for one
 * line of text that is not a word (no dictionaries), optionally limited to the characters of the ids
 * being looked for.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { createWorker, PSM, type Worker } from 'tesseract.js';

const require = createRequire(import.meta.url);

/** The folder holding eng.traineddata.gz (integer LSTM model, the fast one). */
export function langPath(): string {
  return dirname(require.resolve('@tesseract.js-data/eng/4.0.0_best_int/eng.traineddata.gz'));
}

export interface LineReader {
  /** Reads one line from a PNG; the text and tesseract's mean confidence (0–100). */
  read(png: Buffer): Promise<{ text: string; confidence: number }>;
  terminate(): Promise<void>;
}

export async function createLineReader(whitelist?: string): Promise<LineReader> {
  const worker: Worker = await createWorker(
    'eng',
    1,
    {
      langPath: langPath(),
      cacheMethod: 'none',
      gzip: true,
    },
    {
      load_system_dawg: '0',
      load_freq_dawg: '0',
      load_unambig_dawg: '0',
      load_punc_dawg: '0',
      load_number_dawg: '0',
      load_bigram_dawg: '0',
    },
  );
  await worker.setParameters({
    tessedit_pageseg_mode: PSM.SINGLE_LINE,
    // Tesseract's own diagnostics ("Image too small to scale") go nowhere.
    debug_file: '/dev/null',
    ...(whitelist ? { tessedit_char_whitelist: whitelist } : {}),
  });
  return {
    async read(png) {
      const { data } = await worker.recognize(png);
      return { text: data.text.trim(), confidence: data.confidence };
    },
    async terminate() {
      await worker.terminate();
    },
  };
}
