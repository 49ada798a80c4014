// The dashboard: reads the view from the URL, loads its parts (traffic,
// tops, devices, flows) in parallel, and reloads when the URL changes (a
// filter, a dragged range, back/forward) or, live, when the data moves.
import { api, isAbort } from './api.js';
import { bytes, count, duration, el, endpoint, protocolName, utc } from './dom.js';
import { ErrorBar } from './errors.js';
import { FilterForm } from './filters.js';
import { KeysetTable } from './keyset-table.js';
import { Live } from './live.js';
import { bucketLabel, loadTimeline, TrafficCharts } from './timeline.js';
import { TopTables } from './top.js';
import { current, deviceParams, flowParams, isoTime, navigate, rangeOf } from './url-state.js';

const $ = (id) => document.getElementById(id);

const FLOW_PAGE = '100';
const DEVICE_PAGE = '100';

const FLOW_COLUMNS = [
  { head: 'first (UTC)', cell: (r) => utc(r.first), sort: 'first' },
  { head: 'duration', cell: (r) => duration(r.durationMs), num: true },
  { head: 'proto', cell: (r) => protocolName(r.protocol) },
  { head: 'source', cell: (r) => endpoint(r.src, r.srcPort) },
  { head: 'destination', cell: (r) => endpoint(r.dst, r.dstPort) },
  { head: 'application', cell: (r) => r.app?.application ?? r.service ?? '' },
  { head: 'packets', cell: (r) => count(r.packets), num: true, sort: 'packets' },
  { head: 'bytes', cell: (r) => bytes(r.bytes), num: true, sort: 'bytes' },
  { head: 'state', cell: (r) => r.connState ?? r.endReason ?? '' },
];

const DEVICE_COLUMNS = [
  { head: 'address', cell: (r) => r.addr },
  { head: 'vlan', cell: (r) => (r.vlan ? String(r.vlan) : '') },
  { head: 'MAC', cell: (r) => r.mac ?? '' },
  { head: 'vendor', cell: (r) => r.vendor ?? '' },
  { head: 'name', cell: (r) => r.name ?? '' },
  { head: 'services', cell: (r) => (r.services ?? []).join(', ') },
  { head: 'flows', cell: (r) => count(r.flows), num: true },
  { head: 'bytes', cell: (r) => bytes(r.bytes), num: true },
  { head: 'last seen (UTC)', cell: (r) => utc(r.lastSeen) },
];

const errors = new ErrorBar($('errors'));
const form = new FilterForm($('filters'), $('chips'), navigate);
const charts = new TrafficCharts([$('chart-bytes'), $('chart-flows')], (from, to) => navigate({ from: isoTime(from), to: isoTime(to) }));
const tops = new TopTables({ talkers: $('top-talkers'), services: $('top-services'), applications: $('top-applications') }, navigate);
const flows = new KeysetTable($('flows'), {
  path: 'api/flows',
  columns: FLOW_COLUMNS,
  onRow: showFlow,
  onSort: (sort) => {
    const p = current();
    const same = (p.get('sort') ?? 'first') === sort;
    navigate({ sort, order: same && (p.get('order') ?? 'desc') === 'desc' ? 'asc' : 'desc' });
  },
});
const devices = new KeysetTable($('devices'), { path: 'api/devices', columns: DEVICE_COLUMNS, onRow: (r) => r.addr && navigate({ host: r.addr }) });

let controller;
/** The tables' errors (they drop their own aborted reads). */
const tableReport = (e) => errors.report(e);
let timeline;
let views = 0;

function flowQuery(p) {
  const q = flowParams(p);
  if (!q.has('limit')) q.set('limit', FLOW_PAGE);
  return q;
}

// last seen first: the inventory's own index (by traffic is the top talkers' table; a sort by bytes
// over millions of devices reads them all)
const deviceQuery = (p) => {
  const q = deviceParams(p);
  q.set('sort', 'last');
  q.set('limit', DEVICE_PAGE);
  return q;
};

function showRange(range, tl) {
  const zoomed = range.from !== undefined || range.to !== undefined;
  const lo = tl?.lo ?? range.fromMs;
  const hi = tl?.hi ?? range.toMs;
  $('range').textContent = Number.isFinite(lo) && Number.isFinite(hi) ? `${utc(lo)} – ${utc(hi)} UTC${tl ? `, ${bucketLabel(tl.bucketMs)} buckets` : ''}` : '';
  $('whole').hidden = !zoomed;
}

async function loadTraffic(range, signal, report) {
  try {
    const tl = await loadTimeline(range, signal);
    if (signal.aborted) return;
    timeline = { ...tl, key: JSON.stringify(tl.items) };
    charts.show(tl);
    showRange(range, tl);
    $('traffic').dataset.state = tl.items.length ? 'done' : 'empty';
  } catch (e) {
    if (signal.aborted) return;
    timeline = undefined;
    charts.show({ bucketMs: 60_000, items: [] });
    showRange(range);
    $('traffic').dataset.state = 'error';
    report(e);
  }
}

/**
 * Loads the view. `soft` (a live refresh): errors are kept, and a table the
 * user has scrolled down keeps its rows (a note offers the new ones).
 */
async function render({ soft = false } = {}) {
  controller?.abort();
  controller = new AbortController();
  const { signal } = controller;
  const p = current();
  if (!soft) {
    errors.clear();
    form.show(p); // not on a live refresh: it would undo what is being typed
  }
  flows.markSort(p.get('sort') ?? 'first', p.get('order') ?? 'desc');
  $('live').checked = p.get('live') !== '0';
  const range = rangeOf(p);
  const report = (e) => !isAbort(e) && !signal.aborted && errors.report(e);
  document.body.dataset.busy = '1';
  const jobs = [loadTraffic(range, signal, report), tops.load(range, signal, report)];
  const reloadFlows = !soft || flows.atTop;
  if (reloadFlows) jobs.push(flows.load(flowQuery(p), tableReport));
  $('flows-new').hidden = reloadFlows;
  if (!soft || devices.atTop) jobs.push(devices.load(deviceQuery(p), tableReport));
  await Promise.all(jobs);
  if (signal.aborted) return;
  delete document.body.dataset.busy;
  document.body.dataset.view = String(++views);
  $('updated').textContent = `updated ${utc(Date.now()).slice(11)} UTC`;
}

/** One live poll: the chart's own timeline again; a refresh when it differs from what is shown. */
async function moved() {
  if (!timeline || document.body.dataset.busy) return false;
  const range = rangeOf();
  const tl = await api('api/timeline', { bucket: bucketLabel(timeline.bucketMs), from: range.from, to: range.to });
  if (JSON.stringify(tl.items) === timeline.key) return false;
  await render({ soft: true });
  return true;
}

/** A row's whole record: read again by id, or as it came where the store has no ids (the central store: sensor, batch, seq). */
async function showFlow(row) {
  const dialog = $('flow-detail');
  try {
    const flow = row.id === undefined ? row : await api(`api/flows/${encodeURIComponent(row.id)}`);
    const name = row.id === undefined ? `${row.sensor} ${row.batch}/${row.seq}` : row.id;
    dialog.querySelector('h3').textContent = `flow ${name}: ${endpoint(flow.src, flow.srcPort)} → ${endpoint(flow.dst, flow.dstPort)}`;
    dialog.querySelector('pre').textContent = JSON.stringify(flow, null, 2);
    dialog.showModal();
  } catch (e) {
    errors.report(e);
  }
}

const live = new Live(moved);

$('whole').addEventListener('click', () => navigate({ from: undefined, to: undefined }));
$('flows-new').addEventListener('click', () => {
  $('flows-new').hidden = true;
  flows.load(flowQuery(current()), tableReport);
});
$('live').addEventListener('change', (ev) => {
  live.enabled = ev.target.checked;
  const p = current();
  if (ev.target.checked) p.delete('live');
  else p.set('live', '0');
  history.replaceState(null, '', `${location.pathname}${p.toString() ? `?${p}` : ''}`);
});
$('flow-detail').querySelector('button').addEventListener('click', () => $('flow-detail').close());
addEventListener('popstate', () => render());
addEventListener('flowmaster:navigate', () => render().then(() => live.restart()));

render().then(() => {
  live.enabled = current().get('live') !== '0';
});
