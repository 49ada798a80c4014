/**
 * Engine choice: 'native' needs the addon (ERR_ADDON_MISSING otherwise),
 * 'ts' never touches it (BPF filters are compiled by its own pcap-filter
 * compiler, with or without libpcap), 'auto' takes native when the addon
 * loads (and libpcap too, for a filter) and otherwise warns once and takes ts.
 */
import type { ResolvedOptions } from '../options';
import { loadNative, nativeSource } from './native';
import { tsSource } from './pure';
import { pcapFilterCompiler } from './ts/pcap-filter';
import type { BatchSource, EngineName } from './source';

let warned = false;

export function selectEngine(options: ResolvedOptions): { name: EngineName; open: (path: string) => BatchSource } {
  const name = options.engine === 'auto' ? autoEngine(options) : options.engine;
  if (name === 'native') {
    const addon = loadNative();
    if (options.filter !== undefined) addon.compileFilter(options.filter, 1);
    return { name, open: (path) => nativeSource(path, options) };
  }
  // a bad or unsupported filter fails here, at construction, as the native engine's does
  const program = options.filter === undefined ? undefined : pcapFilterCompiler(options.filter);
  return { name, open: (path) => tsSource(path, options, program) };
}

/**
 * 'auto': native when the addon loads and can run the filter (the native
 * engine compiles it with libpcap, which may not be installed), else ts with
 * one warning saying why.
 */
function autoEngine(options: ResolvedOptions): EngineName {
  try {
    const addon = loadNative();
    if (options.filter !== undefined && addon.pcapVersion() === null) {
      throw new Error('libpcap is not installed, and the native engine compiles filters with it (Debian/Ubuntu: apt-get install libpcap0.8).');
    }
    return 'native';
  } catch (e) {
    if (!warned) {
      warned = true;
      process.emitWarning(`${(e as Error).message} Using the pure TypeScript engine (same flows, slower).`, { code: 'FLOWMASTER_NO_NATIVE' });
    }
    return 'ts';
  }
}
