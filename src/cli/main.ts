#!/usr/bin/env node
/**
 * flowmaster command line. Exit codes: 0 ok, 1 runtime error (bad capture,
 * I/O, database), 2 usage error (bad flag or option value).
 */
import { Argument, Command, CommanderError, Option } from 'commander';
import { FlowmasterError } from '../errors';
import { bench, type BenchFlags } from './bench';
import { capture, type CaptureFlags } from './capture';
import { addEngineFlags, addExportFlag, addWriterFlags, byteSize, dissectBytes, nonNegativeInt, partitionSpanOption, positiveInt, time } from './flags';
import { ingest, type IngestFlags } from './ingest';
import { addClickHouseFlags, addClickHouseTarget, clickhouseInit } from './clickhouse';
import { addOpsFlags } from '../ops';
import { guardOutput } from './output';
import { addRetainFlags } from './retain';
import { bucketDuration, devices, flows, retention, timeline, top, TOP_KINDS, type DevicesFlags, type FlowsFlags, type RetentionFlags, type TimelineFlags, type TopFlags, type TopKind } from './query';
import { printError, read, type ReadFlags } from './read';
import { addExportCommand, addFlowFilterFlags } from './export';
import { addServeCommand } from './serve';

const USAGE_CODES = new Set(['ERR_INVALID_OPTION', 'ERR_USAGE', 'ERR_BPF', 'ERR_BAD_CURSOR']);

/** 'SF,S0' as ['SF', 'S0'] (the library checks the values). */

const examples = (...lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}`;

/** Keyset (--cursor) or offset (--page) paging flags of flows and devices. */
function pageFlags(c: Command, sorts: string[], dflt: string): Command {
  return storeFlags(c)
    .addOption(new Option('--sort <key>', 'sort by').choices(sorts).default(dflt))
    .addOption(new Option('--order <order>', 'sort order').choices(['asc', 'desc']).default('desc'))
    .option('--limit <n>', 'rows per page (1..10000)', positiveInt, 50)
    .option('--cursor <cursor>', 'the next page: the cursor the previous page printed')
    .option('--page <n>', 'offset paging: page number (with --limit as page size; prints the total)', positiveInt)
    .addOption(formatOption())
    .option('--json', 'alias of --format json: the page as one JSON object (items, next cursor)', false);
}

/** --format of flows, devices and top (CSV headers: the SQLite column names). */
function formatOption(): Option {
  return new Option('--format <format>', 'table, jsonl (a JSON object per row), csv (header: the SQLite column names) or json (the whole page as one object)')
    .choices(['table', 'jsonl', 'csv', 'json'])
    .default('table');
}

/** Which store a query reads: a SQLite file (--db) or the central ClickHouse (--clickhouse; --sensor narrows it to one sensor). */
function storeFlags(c: Command): Command {
  return addClickHouseTarget(c.option('--db <file>', 'the flowmaster database')).option('--sensor <name>', 'with --clickhouse: only this sensor\'s rows');
}

export function program(): Command {
  const p = new Command('flowmaster')
    .description('Packets to bidirectional flow records: capture files or live interfaces, into SQLite, queried back')
    .version(require('../../package.json').version)
    .configureOutput({ outputError: () => undefined }) // main() prints it, one line with its code
    .exitOverride();

  addExportFlag(addEngineFlags(
    p.command('read')
      .description('read capture files and print their flows')
      .argument('<files...>', 'pcap or pcapng files ("-" for stdin)')
      .addOption(new Option('--format <format>', 'output format (default: table on a terminal, else jsonl)').choices(['jsonl', 'csv', 'table'])),
  ))
    .option('--top <n>', 'only the n largest flows by bytes', positiveInt)
    .option('--summary', 'print a summary per file to stderr', false)
    .addHelpText('after', examples(
      'flowmaster read capture.pcap',
      'flowmaster read --format csv --idle-timeout 60 capture.pcapng > flows.csv',
      'flowmaster read -f "tcp port 502" --no-key-vlan --summary plant.pcap',
      'tcpdump -w - -c 1000 | flowmaster read --format jsonl -',
      'flowmaster read --ipfix 127.0.0.1:4739 --format csv capture.pcap > /dev/null',
    ))
    .action(async (files: string[], flags: ReadFlags) => {
      process.exitCode = await read(files, flags);
    });

  addClickHouseFlags(addWriterFlags(addRetainFlags(addOpsFlags(addExportFlag(addEngineFlags(
    p.command('ingest')
      .description('read capture files into a SQLite database (flows, devices, sources) and/or ClickHouse (--clickhouse)')
      .argument('<files...>', 'pcap or pcapng files')
      .option('--db <file>', 'database file (created if missing)')
      .addOption(partitionSpanOption())
      .option('--workers <n>', 'reader threads for several files (default: the number of cores)', positiveInt)
      .option('--no-progress', 'no progress bar or progress lines')
      .option('--force', 'read files again that are already in the database (their earlier source is replaced)', false),
  ))))))
    .addHelpText('after', examples(
      'flowmaster ingest --db flows.db capture.pcap',
      'flowmaster ingest --db flows.db --workers 2 day1/*.pcap   # files already in flows.db are skipped',
      'flowmaster ingest --db flows.db --metrics-port 9464 --log-format json big.pcap',
      'flowmaster ingest --clickhouse http://ch.example:8123 --sensor plant-a capture.pcap   # into the central store only',
    ))
    .action(async (files: string[], flags: IngestFlags) => {
      process.exitCode = await ingest(files, flags);
    });

  addClickHouseFlags(addWriterFlags(addRetainFlags(addOpsFlags(addExportFlag(addEngineFlags(
    p.command('capture')
      .description('capture live from interfaces until Ctrl-C (SIGINT) or SIGTERM, then flush and commit')
      .requiredOption('-i, --interface <name>', 'interface to capture (repeat for several)', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
      .option('--db <file>', 'ingest into this database (else: flows as JSON lines on stdout)')
      .addOption(partitionSpanOption())
      .option('--threads <n>', 'capture threads per interface (PACKET_FANOUT)', positiveInt, 1)
      .option('--buffer-size <bytes>', 'kernel ring size per capture thread', positiveInt)
      .option('--snaplen <bytes>', 'bytes kept of each packet', positiveInt, 262144)
      .option('--no-promisc', 'do not put the interface into promiscuous mode'),
    ['native', 'auto'],
  ))))))
    .addHelpText('after', `${examples(
      'sudo flowmaster capture -i eth0 --db flows.db',
      'sudo flowmaster capture -i eth0 -i eth1 -f "not port 22" --db flows.db --metrics-port 9464',
      'sudo flowmaster capture -i lo --idle-timeout 10 | head',
      'sudo flowmaster capture -i eth0 --ipfix collector.example:4739',
      'sudo flowmaster capture -i eth0 --db flows.db --retain-flows 30d --retain-devices 90d --max-size 20G',
      'sudo flowmaster capture -i eth0 --clickhouse http://ch.example:8123 --sensor plant-a',
    )}\n\nNeeds root, or: sudo setcap cap_net_raw,cap_net_admin=eip "$(readlink -f "$(command -v node)")"`)
    .action(async (flags: CaptureFlags) => {
      process.exitCode = await capture(flags);
    });

  addFlowFilterFlags(pageFlags(p.command('flows').description('page through stored flows (filtered, sorted)'), ['first', 'last', 'bytes', 'packets'], 'first'))
    .addHelpText('after', examples(
      'flowmaster flows --db flows.db --host 10.0.0.0/8 --protocol tcp --sort bytes',
      'flowmaster flows --db flows.db --service modbus --cursor <cursor from the previous page>',
      'flowmaster flows --db flows.db --from 2026-11-27T00:00Z --page 3 --json',
      'flowmaster flows --db flows.db --conn-state S0,REJ --format csv > attempts.csv',
      "flowmaster flows --db flows.db --community-id '1:LQU9qZlK+B5F3KDmev6m5PMibrg=' --format jsonl",
      "flowmaster flows --db flows.db --application tls --sni '*.example.com' --sort bytes",
    ))
    .action(async (flags: FlowsFlags) => {
      process.exitCode = await flows(flags);
    });

  pageFlags(p.command('devices').description('page through the device inventory'), ['last', 'first', 'bytes', 'packets', 'flows'], 'last')
    .option('--host <ip|cidr>', 'address or network')
    .option('--vlan <id>', 'VLAN id', nonNegativeInt)
    .option('--vendor <name>', 'exact vendor name (from the MAC)')
    .option('--seen-since <time>', 'last seen at or after (ISO 8601 or ms)', time)
    .option('--name <glob>', "host name a DNS answer gave the address, '*' and '?' as wildcards ('*.example.com')")
    .addHelpText('after', examples('flowmaster devices --db flows.db --sort bytes --page 2', 'flowmaster devices --db flows.db --host 192.168.1.0/24 --format csv', "flowmaster devices --db flows.db --name '*.example.com'"))
    .action(async (flags: DevicesFlags) => {
      process.exitCode = await devices(flags);
    });

  storeFlags(p.command('top')
    .description('top talkers, conversations, services, applications or TLS server names')
    .addArgument(new Argument('[what]', 'talkers, conversations, services, applications (what the payload showed) or sni (TLS/QUIC server names)')
      .choices(TOP_KINDS).default('talkers')))
    .addOption(new Option('--by <measure>', 'rank by').choices(['bytes', 'packets', 'flows']).default('bytes'))
    .option('--from <time>', 'flows overlapping from this time (ISO 8601 or ms)', time)
    .option('--to <time>', 'until this time', time)
    .option('--limit <n>', 'rows', positiveInt, 10)
    .addOption(new Option('--format <format>', 'table, jsonl (a JSON object per row), csv or json (one JSON array)').choices(['table', 'jsonl', 'csv', 'json']).default('table'))
    .option('--json', 'alias of --format json: the rows as one JSON array', false)
    .addHelpText('after', examples('flowmaster top --db flows.db', 'flowmaster top services --db flows.db --by flows --from 2026-11-27', 'flowmaster top applications --db flows.db', 'flowmaster top sni --db flows.db --limit 20'))
    .action(async (what: TopKind, flags: TopFlags) => {
      process.exitCode = await top(what, flags);
    });

  storeFlags(p.command('timeline')
    .description('traffic over time: bytes, packets and flows per time bucket (from the roll-ups)'))
    .addOption(new Option('--bucket <duration>', "bucket size: whole minutes, hours or days ('1m', '5m', '1h', '1d')").argParser(bucketDuration).default(3_600_000, '1h'))
    .option('--from <time>', 'buckets that start from this time (ISO 8601 or ms; from its minute)', time)
    .option('--to <time>', 'until this time', time)
    .addOption(new Option('--format <format>', 'output format (default: table on a terminal, else jsonl)').choices(['table', 'jsonl', 'csv']))
    .addHelpText('after', examples(
      'flowmaster timeline --db flows.db',
      'flowmaster timeline --db flows.db --bucket 5m --from 2026-11-27T10:00 --to 2026-11-27T12:00 --format table',
      'flowmaster timeline --db flows.db --bucket 1d --format csv > daily.csv',
    ))
    .action(async (flags: TimelineFlags) => {
      process.exitCode = await timeline(flags);
    });

  addExportCommand(p);
  addServeCommand(p);

  p.command('retention')
    .description('delete flows and devices older than an age, then return the space')
    .requiredOption('--db <file>', 'the flowmaster database')
    .option('--flows <age>', "keep flows that ended within this age ('30d', '12h', '90m', '45s')")
    .option('--devices <age>', 'keep devices seen within this age (devices of kept flows always stay)')
    .option('--rollup-minutes <age>', 'keep minute roll-ups within this age (default: as --flows)')
    .option('--rollup-hours <age>', 'keep hour roll-ups within this age (default: 400d, or --flows if longer)')
    .option('--no-vacuum', 'skip PRAGMA incremental_vacuum afterwards')
    .option('--max-rows <n>', 'keep at most this many flows (the oldest partitions go)', positiveInt)
    .option('--max-size <bytes>', "keep the database's pages in use under this size: 500M, 20G (the oldest partitions go)", byteSize)
    .option('--exact', 'also delete, row by row, aged-out flows that share a partition with younger ones', false)
    .option('--chunk <rows>', 'rows deleted per transaction (devices, and flows with --exact)', positiveInt, 5000)
    .addHelpText('after', examples('flowmaster retention --db flows.db --flows 30d --devices 90d', 'flowmaster retention --db flows.db --max-size 20G'))
    .action(async (flags: RetentionFlags) => {
      process.exitCode = await retention(flags);
    });

  const ch = p.command('clickhouse').description('the central ClickHouse store');
  addClickHouseTarget(ch.command('init')
    .description('create the schema (idempotent): flows, devices and roll-up tables; with --clickhouse-cluster, run it on every shard'))
    .option('--print', 'print the SQL instead of running it', false)
    .addHelpText('after', examples(
      'flowmaster clickhouse init --clickhouse http://127.0.0.1:8123',
      'flowmaster clickhouse init --clickhouse http://shard1:8123 --clickhouse-cluster flows   # then on shard2, ...',
    ))
    .action(async (flags: Parameters<typeof clickhouseInit>[0]) => {
      process.exitCode = await clickhouseInit(flags);
    });

  p.command('bench')
    .description('native vs pure-TypeScript engine on a generated capture (medians)')
    .option('--packets <n>', 'packets in the generated capture', positiveInt, 2_000_000)
    .option('--flows <n>', 'flows in it', positiveInt, 20_000)
    .option('--runs <n>', 'runs per engine', positiveInt, 3)
    .option('--no-dissect', 'do not read the payload for applications (docs/applications.md)')
    .option('--dissect-bytes <n>', 'payload bytes kept per flow direction for it, 64..65535 (default 4096)', dissectBytes)
    .addHelpText('after', examples('flowmaster bench', 'flowmaster bench --packets 10000000 --flows 100000', 'flowmaster bench --no-dissect'))
    .action(async (flags: BenchFlags) => {
      process.exitCode = await bench(flags);
    });
  return p;
}

/** A parse error of commander's as ours: one line, a code (a bad value or a bad command line) and where to read more. */
function usageError(e: CommanderError, argv: string[]): FlowmasterError {
  const command = argv.find((a) => !a.startsWith('-'));
  const known = command !== undefined && program().commands.some((c) => c.name() === command);
  const help = known ? `flowmaster ${command} --help` : 'flowmaster --help';
  const message = `${e.message.replace(/^error: /, '').replace(/\n+/g, ' ').trim()} (see ${help})`;
  return new FlowmasterError(e.code === 'commander.invalidArgument' ? 'ERR_INVALID_OPTION' : 'ERR_USAGE', message);
}

export async function main(argv: string[]): Promise<number> {
  guardOutput();
  try {
    await program().parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? 0);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) return 0;
      printError(usageError(e, argv));
      return 2;
    }
    printError(e);
    const code = (e as FlowmasterError).code;
    return code && USAGE_CODES.has(code) ? 2 : 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
