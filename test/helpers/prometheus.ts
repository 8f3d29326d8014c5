import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';
import type { Histogram, Registry } from 'prom-client';

export interface Scrape {
  families: ParsedFamily[];
  /** A counter's or gauge's value whose labels include `labels`; undefined when absent. */
  value(name: string, labels?: Record<string, string>): number | undefined;
}

/**
 * GET /metrics, parsed by a real Prometheus text-format parser (a malformed line throws).
 * The parser folds a labelled histogram into one unlabelled sample, so histogram counts are read
 * with histogramCount() from the registry that produced the text.
 */
export async function scrape(baseUrl: string): Promise<Scrape> {
  const res = await fetch(`${baseUrl}/metrics`);
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const families = parsePrometheusTextFormat(await res.text());
  return {
    families,
    value(name, labels = {}) {
      const sample = families
        .find((f) => f.name === name)
        ?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
      return sample?.value === undefined ? undefined : Number(sample.value);
    },
  };
}

/** The observation count of a histogram's series whose labels include `labels`. */
export async function histogramCount(
  registry: Registry,
  name: string,
  labels: Record<string, string>,
): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name) as Histogram | undefined;
  if (!metric) return undefined;
  const { values } = await metric.get();
  return values.find(
    (v) =>
      v.metricName === `${name}_count` &&
      Object.entries(labels).every(([k, l]) => String(v.labels[k]) === l),
  )?.value;
}
