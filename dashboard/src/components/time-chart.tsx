/**
 * A live time series on uPlot (canvas: cheap to redraw every second, unlike SVG charts). uPlot
 * sets its element styles through the CSSOM, which the dashboard's CSP allows; its stylesheet is
 * bundled. Colours come from the page's CSS variables, so light and dark themes apply, and the
 * chart is rebuilt when the colour scheme changes. A text summary beside it carries the same
 * numbers for screen readers and for tests.
 */
import { useEffect, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  label: string;
  /** A CSS variable holding the colour, e.g. `--chart-1`. */
  colorVar: string;
  values: readonly (number | null)[];
}

interface TimeChartProps {
  title: string;
  /** ms since epoch, oldest first. */
  ts: readonly number[];
  series: readonly ChartSeries[];
  /** Formats a value on the y axis and in the legend. */
  format: (value: number) => string;
  height?: number;
  /** Whole counts (connections): y ticks only at whole numbers. */
  integer?: boolean;
}

const CLOCK = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });

const INTEGER_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 1_000_000];

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

function useColorScheme(): string {
  const query = matchMedia('(prefers-color-scheme: dark)');
  const [dark, setDark] = useState(query.matches);
  useEffect(() => {
    const onChange = (e: MediaQueryListEvent) => setDark(e.matches);
    query.addEventListener('change', onChange);
    return () => query.removeEventListener('change', onChange);
  }, [query]);
  return dark ? 'dark' : 'light';
}

export function TimeChart({ title, ts, series, format, height = 180, integer = false }: TimeChartProps) {
  const holder = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const scheme = useColorScheme();
  const labels = series.map((s) => `${s.label}|${s.colorVar}`).join(',');
  const formatRef = useRef(format);
  formatRef.current = format;

  const data = (): uPlot.AlignedData => [ts.map((t) => t / 1000), ...series.map((s) => s.values as (number | null)[])];

  useEffect(() => {
    const el = holder.current;
    if (el === null) return;
    const axisColor = cssVar('--fg-muted');
    const gridColor = cssVar('--grid');
    const font = `12px ${cssVar('--font')}`;
    const axis = { stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor, width: 1 }, font };
    const u = new uPlot(
      {
        width: Math.max(200, el.clientWidth),
        height,
        cursor: { drag: { x: false, y: false } },
        legend: { show: true, live: true },
        scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min ?? 0), Math.max(1, (max ?? 1) * 1.1)] } },
        // Plain clock times on x: uPlot's default adds a date row whose labels collide on a phone.
        axes: [{ ...axis, space: 90, values: (_u, splits) => splits.map((v) => CLOCK.format(new Date(v * 1000))) }, { ...axis, size: 70, ...(integer ? { incrs: INTEGER_STEPS } : {}), values: (_u, values) => values.map((v) => formatRef.current(v)) }],
        series: [
          { label: 'Time', value: (_u, v) => (v == null ? '–' : new Date(v * 1000).toLocaleTimeString()) },
          ...series.map((s) => ({ label: s.label, stroke: cssVar(s.colorVar), width: 2, spanGaps: false, points: { show: false }, value: (_u: uPlot, v: number | null) => (v == null ? '–' : formatRef.current(v)) })),
        ],
      },
      data(),
      el,
    );
    plot.current = u;
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = undefined;
    };
    // Rebuilt only when the set of series, the height or the colour scheme changes; data goes through setData.
  }, [labels, height, scheme, integer]);

  useEffect(() => {
    plot.current?.setData(data());
  });

  return <div className="chart" ref={holder} role="img" aria-label={`${title}: chart of the last ${ts.length} seconds`} />;
}
