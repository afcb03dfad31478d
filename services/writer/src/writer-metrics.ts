import type { Metrics } from '@maniac-gateway/runtime';

type Counter<L extends string = string> = ReturnType<typeof Metrics.prototype.counter<L>>;
type Gauge<L extends string = string> = ReturnType<typeof Metrics.prototype.gauge<L>>;
type Histogram<L extends string = string> = ReturnType<typeof Metrics.prototype.histogram<L>>;

/** The writer's Prometheus metrics (on the process-wide registry). */
export class WriterMetrics {
  readonly lag: Gauge<'topic' | 'partition'>;
  readonly batchRows: Histogram;
  readonly batchBytes: Histogram;
  readonly insertDuration: Histogram<'outcome'>;
  readonly freshness: Histogram;
  readonly events: Counter<'outcome'>;
  readonly deadLettered: Counter<'reason'>;
  readonly outage: Gauge;
  readonly outageRetries: Counter;

  constructor(metrics: Metrics) {
    this.lag = metrics.gauge(
      'maniac_writer_consumer_lag',
      'Messages between the last fetched offset and the high watermark, per partition',
      ['topic', 'partition'],
    );
    this.batchRows = metrics.histogram(
      'maniac_writer_batch_rows',
      'Rows per ClickHouse insert',
      [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000],
    );
    this.batchBytes = metrics.histogram(
      'maniac_writer_batch_bytes',
      'Approximate bytes per ClickHouse insert',
      [1e3, 1e4, 1e5, 5e5, 1e6, 4e6, 16e6, 64e6],
    );
    this.insertDuration = metrics.histogram(
      'maniac_writer_insert_duration_seconds',
      'ClickHouse insert latency',
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      ['outcome'],
    );
    this.freshness = metrics.histogram(
      'maniac_writer_freshness_seconds',
      'End-to-end freshness: event created_ms → row visible in ClickHouse',
      [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 3600],
    );
    this.events = metrics.counter(
      'maniac_writer_events_total',
      'Events handled by outcome (inserted, duplicate_skipped, dead_lettered)',
      ['outcome'],
    );
    this.deadLettered = metrics.counter(
      'maniac_writer_dead_lettered_total',
      'Events sent to the dead-letter topic, by reason',
      ['reason'],
    );
    this.outage = metrics.gauge(
      'maniac_writer_clickhouse_outage',
      '1 while inserts are failing and consumption is paused',
    );
    this.outageRetries = metrics.counter(
      'maniac_writer_insert_retries_total',
      'Insert attempts retried after a failure',
    );
  }
}
