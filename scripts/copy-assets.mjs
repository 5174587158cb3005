// Copies the non-TypeScript files the compiled code reads at run time into dist/, next to
// the modules that read them (tsc emits only JavaScript). Run by `npm run build`.
import { cpSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Source directory → destination, relative to the package root. */
const ASSETS = [['src/ai/prompts', 'dist/ai/prompts']];

for (const [from, to] of ASSETS) {
  cpSync(join(root, from), join(root, to), { recursive: true });
}
