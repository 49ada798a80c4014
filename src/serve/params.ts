/**
 * Query parameters as the CLI's flags: the flow filters are read off
 * `flows`'s own flag definitions (addFlowFilterFlags: names, parsers,
 * choices, help), so a filter the CLI gains is a parameter here with the same
 * parsing, and the values land in the FlowFilter the store takes. Other
 * parameters use the same parser functions as their flags.
 */
import { Command, InvalidArgumentError, type Option } from 'commander';
import { addFlowFilterFlags } from '../cli/export';
import { nonNegativeInt, positiveInt, time } from '../cli/flags';
import { FlowmasterError } from '../errors';
import type { DeviceFilter, FlowFilter } from '../store/query';

/** A parameter: its JSON schema (a string: the parser reads it as the flag's text) and the parser. */
export interface Param {
  schema: Record<string, unknown>;
  parse?: (v: string) => unknown;
  choices?: readonly string[];
}

/** Longest parameter value taken (a cursor has its own, longer bound in the store). */
const MAX_VALUE = 1024;

/** Integer flags' values: the parsers accept only these, the pattern says so in the OpenAPI document. */
const INTEGER_PARSERS = new Set<unknown>([nonNegativeInt, positiveInt]);

function paramOf(o: Option): Param {
  const choices = o.argChoices;
  const schema: Record<string, unknown> = { type: 'string', maxLength: MAX_VALUE, description: o.description };
  if (choices) schema.enum = choices;
  if (INTEGER_PARSERS.has(o.parseArg)) schema.pattern = '^[0-9]+$';
  return { schema, parse: o.parseArg ? (v) => (o.parseArg as (v: string, prev: unknown) => unknown)(v, undefined) : undefined, choices };
}

/** The flow filter parameters, by FlowFilter name (the flags' camelCase names: minBytes, httpHost, connState, ...). */
export const FLOW_FILTER_PARAMS: Readonly<Record<string, Param>> = Object.fromEntries(
  addFlowFilterFlags(new Command()).options.map((o) => [o.attributeName(), paramOf(o)]),
);

/** `devices`'s filter flags (main.ts), with their parsers. */
export const DEVICE_FILTER_PARAMS: Readonly<Record<keyof DeviceFilter, Param>> = {
  host: { schema: { type: 'string', maxLength: MAX_VALUE, description: 'address or network (IP or CIDR)' } },
  vlan: { schema: { type: 'string', maxLength: MAX_VALUE, pattern: '^[0-9]+$', description: 'VLAN id' }, parse: nonNegativeInt },
  vendor: { schema: { type: 'string', maxLength: MAX_VALUE, description: 'exact vendor name (from the MAC)' } },
  seenSince: { schema: { type: 'string', maxLength: MAX_VALUE, description: 'last seen at or after (ISO 8601 or ms)' }, parse: time },
  name: { schema: { type: 'string', maxLength: MAX_VALUE, description: "host name a DNS answer gave the address, '*' and '?' as wildcards" } },
};

/** A time parameter (from, to), ISO 8601 or ms, parsed as the flags are. */
export const TIME_PARAM: Param = { schema: { type: 'string', maxLength: 64, description: 'ISO 8601 date/time (UTC unless a zone is given) or ms since the epoch' }, parse: time };

/** One value through its parser; a parser's complaint is ERR_INVALID_OPTION naming the parameter. */
export function parseParam(name: string, p: Param, raw: string): unknown {
  try {
    if (p.choices && !p.choices.includes(raw)) throw new InvalidArgumentError(`expected one of ${p.choices.join(', ')}`);
    return p.parse ? p.parse(raw) : raw;
  } catch (e) {
    if (e instanceof InvalidArgumentError || e instanceof FlowmasterError) throw new FlowmasterError('ERR_INVALID_OPTION', `${name}: ${e.message}`);
    throw e;
  }
}

/** The parameters of `params` that `query` gives, parsed, by name. */
export function parseParams<T>(params: Readonly<Record<string, Param>>, query: Record<string, unknown>): T {
  const out: Record<string, unknown> = {};
  for (const [name, p] of Object.entries(params)) {
    const raw = query[name];
    if (raw !== undefined) out[name] = parseParam(name, p, String(raw));
  }
  return out as T;
}

export const flowFilterOf = (query: Record<string, unknown>): FlowFilter => parseParams<FlowFilter>(FLOW_FILTER_PARAMS, query);
export const deviceFilterOf = (query: Record<string, unknown>): DeviceFilter => parseParams<DeviceFilter>(DEVICE_FILTER_PARAMS, query);

/** The schemas of a set of parameters, for a querystring schema's properties. */
export const schemasOf = (params: Readonly<Record<string, Param>>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(params).map(([k, p]) => [k, p.schema]));
