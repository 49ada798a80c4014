/**
 * Engine choice: 'native' needs the addon (ERR_ADDON_MISSING otherwise),
 * 'ts' never touches it except to compile a BPF filter with libpcap, 'auto'
 * takes native when the addon loads and otherwise warns once and takes ts.
 */
import { FlowmasterError } from '../errors';
import type { ResolvedOptions } from '../options';
import { loadNative, nativeSource } from './native';
import { tsSource } from './pure';
import type { BatchSource, EngineName } from './source';

let warned = false;

export function selectEngine(options: ResolvedOptions): { name: EngineName; open: (path: string) => BatchSource } {
  let name: EngineName;
  if (options.engine === 'ts') {
    name = 'ts';
  } else if (options.engine === 'native') {
    loadNative();
    name = 'native';
  } else {
    try {
      loadNative();
      name = 'native';
    } catch (e) {
      if (!warned) {
        warned = true;
        process.emitWarning(`${(e as Error).message} Using the pure TypeScript engine (same flows, slower).`, { code: 'FLOWMASTER_NO_NATIVE' });
      }
      name = 'ts';
    }
  }
  if (name === 'native') {
    if (options.filter !== undefined) loadNative().compileFilter(options.filter, 1);
    return { name, open: (path) => nativeSource(path, options) };
  }
  const program = options.filter === undefined ? undefined : bpfCompiler(options.filter);
  return { name, open: (path) => tsSource(path, options, program) };
}

/** libpcap compiles BPF (through the addon) for the TypeScript engine's interpreter. */
function bpfCompiler(filter: string): (linktype: number) => ReturnType<ReturnType<typeof loadNative>['bpfProgram']> | Error {
  let addon;
  try {
    addon = loadNative();
  } catch (e) {
    throw new FlowmasterError('ERR_BPF', `BPF filters are compiled by libpcap through the native addon, which is not available: ${(e as Error).message}`);
  }
  addon.compileFilter(filter, 1); // a bad filter fails here, at construction
  const programs = new Map<number, ReturnType<typeof addon.bpfProgram> | Error>();
  return (linktype) => {
    let p = programs.get(linktype);
    if (!p) {
      try {
        p = addon.bpfProgram(filter, linktype);
      } catch (e) {
        p = e as Error;
      }
      programs.set(linktype, p);
    }
    return p;
  };
}
