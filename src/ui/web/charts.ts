import uPlot from 'uplot';

/** Points kept per chart (5 minutes at one reading per second). */
export const CHART_POINTS = 300;

/** A streaming time-series chart (uPlot) with named series; `push` appends one reading. */
export interface LiveChart {
  push(time: number, values: readonly number[]): void;
}

/** Creates a chart in `parent` with one line per series. */
export function liveChart(parent: HTMLElement, title: string, series: ReadonlyArray<{ label: string; stroke: string }>): LiveChart {
  const data: number[][] = [[], ...series.map(() => [])];
  const width = () => Math.max(280, parent.clientWidth - 16);
  const plot = new uPlot(
    {
      title,
      width: width(),
      height: 180,
      scales: { x: { time: true } },
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 1.5 }))],
      axes: [{}, { size: 60 }],
    },
    data as uPlot.AlignedData,
    parent,
  );
  new ResizeObserver(() => plot.setSize({ width: width(), height: 180 })).observe(parent);
  return {
    push(time, values) {
      data[0].push(time / 1000);
      values.forEach((v, i) => data[i + 1].push(v));
      if (data[0].length > CHART_POINTS) for (const column of data) column.shift();
      plot.setData(data as uPlot.AlignedData);
    },
  };
}
