// Traffic over time: bytes/s and flows/s from /api/timeline (the roll-ups),
// in buckets sized so the view holds at most MAX_POINTS of them whatever the
// stored span: a year of flows reads a few hundred roll-up rows, never the
// flows. Dragging across either chart picks a range (the caller puts it in
// the URL); the two charts share a cursor.
import { api } from './api.js';
import { bytes, perSecond } from './dom.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Bucket sizes the view steps through (the roll-ups' finest is a minute). */
const STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080].map((m) => m * MINUTE);
const MAX_POINTS = 360;

/** The smallest step that shows `spanMs` in at most MAX_POINTS buckets. */
export function bucketFor(spanMs) {
  if (!(spanMs > 0)) return MINUTE;
  return STEPS.find((b) => spanMs / b <= MAX_POINTS) ?? Math.ceil(spanMs / MAX_POINTS / DAY) * DAY;
}

/** A bucket as the API writes it ('5m', '1h', '1d'). */
export const bucketLabel = (ms) => (ms % DAY === 0 ? `${ms / DAY}d` : ms % HOUR === 0 ? `${ms / HOUR}h` : `${ms / MINUTE}m`);

/**
 * The timeline of `range`. An open range's extent is not known up front, so
 * the first read is in hours (the roll-ups' hour rows: a month of data is
 * 720 of them) and gives the extent to the hour; a finer bucket, if that
 * extent wants one, is a second read (a third only when the first guess was
 * far off).
 */
export async function loadTimeline(range, signal) {
  const bounded = Number.isFinite(range.fromMs) && Number.isFinite(range.toMs);
  let bucketMs = bounded ? bucketFor(range.toMs - range.fromMs) : HOUR;
  for (let round = 0; ; round++) {
    const tl = await api('api/timeline', { bucket: bucketLabel(bucketMs), from: range.from, to: range.to }, signal);
    const { items } = tl;
    const lo = Number.isFinite(range.fromMs) ? range.fromMs : items[0]?.t;
    const hi = Number.isFinite(range.toMs) ? range.toMs : items.length ? items[items.length - 1].t + bucketMs : undefined;
    const want = items.length ? bucketFor(hi - lo) : bucketMs;
    if (want >= bucketMs || round === 3) return { bucketMs, items, lo, hi };
    bucketMs = want;
  }
}

/** Columns for uPlot: x in seconds at every bucket of [lo, hi) (empty buckets as 0: no traffic), bytes/s and flows/s. */
export function toSeries({ bucketMs, items, lo, hi }) {
  if (!items.length) return [[], [], []];
  const start = Math.floor(Math.min(lo, items[0].t) / bucketMs) * bucketMs;
  const end = Math.max(hi, items[items.length - 1].t + bucketMs);
  const n = Math.min(Math.ceil((end - start) / bucketMs), 20 * MAX_POINTS);
  const xs = Array.from({ length: n }, (_, i) => (start + i * bucketMs) / 1000);
  const b = new Array(n).fill(0);
  const f = new Array(n).fill(0);
  const secs = bucketMs / 1000;
  for (const it of items) {
    const i = Math.round((it.t - start) / bucketMs);
    if (i < 0 || i >= n) continue;
    b[i] = it.bytes / secs;
    f[i] = it.flows / secs;
  }
  return [xs, b, f];
}

export const COLORS = { bytes: '#2563eb', flows: '#db2777' };

const utcDate = (s) => uPlot.tzDate(new Date(s * 1000), 'Etc/UTC');

/** Tick spacings (s): whole minutes and up, as the buckets are. */
const TICK_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080, 43200, 525600].map((m) => m * 60);

/** Time ticks in UTC, 24-hour: hh:mm, the date under the first tick and at midnight; dates alone past two days. */
function timeTicks(u, ticks) {
  const span = u.scales.x.max - u.scales.x.min;
  return ticks.map((t, i) => {
    const iso = new Date(t * 1000).toISOString();
    if (span > 2 * 86400) return iso.slice(5, 10);
    const hm = iso.slice(11, 16);
    return i === 0 || hm === '00:00' ? `${hm}\n${iso.slice(0, 10)}` : hm;
  });
}

/** The two charts, created on the first data and resized with their box. */
export class TrafficCharts {
  #boxes;
  #charts = [];
  #onSelect;
  #data = [[], [], []];

  constructor(boxes, onSelect) {
    this.#boxes = boxes;
    this.#onSelect = onSelect;
    new ResizeObserver(() => this.#resize()).observe(boxes[0]);
  }

  get charts() {
    return this.#charts;
  }

  #options(box, label, color, fmt) {
    return {
      width: Math.max(box.clientWidth, 200),
      height: 170,
      tzDate: utcDate,
      cursor: { sync: { key: 'traffic' }, drag: { x: true, y: false, setScale: false } },
      legend: { live: true },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.08 : 1] } },
      series: [{ value: '{YYYY}-{MM}-{DD} {HH}:{mm}' }, { label, stroke: color, fill: `${color}26`, width: 1.5, points: { show: false }, value: (_u, v) => (v == null ? '–' : fmt(v)) }],
      axes: [{ values: timeTicks, incrs: TICK_STEPS }, { size: 76, values: (_u, vals) => vals.map(fmt) }],
      hooks: { setSelect: [(u) => this.#selected(u)] },
    };
  }

  #selected(u) {
    const { left, width } = u.select;
    if (width < 3) return;
    const from = u.posToVal(left, 'x') * 1000;
    const to = u.posToVal(left + width, 'x') * 1000;
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    this.#onSelect(Math.floor(from), Math.ceil(to));
  }

  show(timeline) {
    this.#data = toSeries(timeline);
    const [xs, b, f] = this.#data;
    if (!this.#charts.length) {
      const [bytesBox, flowsBox] = this.#boxes;
      this.#charts = [
        new uPlot(this.#options(bytesBox, 'bytes/s', COLORS.bytes, (v) => `${bytes(v)}/s`), [xs, b], bytesBox),
        new uPlot(this.#options(flowsBox, 'flows/s', COLORS.flows, perSecond), [xs, f], flowsBox),
      ];
    } else {
      this.#charts[0].setData([xs, b]);
      this.#charts[1].setData([xs, f]);
    }
  }

  #resize() {
    for (const [i, c] of this.#charts.entries()) c.setSize({ width: Math.max(this.#boxes[i].clientWidth, 200), height: 170 });
  }
}
