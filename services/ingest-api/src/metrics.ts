import type { Counter, Gauge, Histogram } from 'prom-client';
import type { Metrics } from '@maniac-gateway/runtime';

export interface IngestMetrics {
  completions: Counter<'status' | 'stream'>;
  attemptFailures: Counter<'provider' | 'reason'>;
  eventsProduced: Counter;
  eventsSpooled: Counter;
  eventsReplayed: Counter;
  eventsDropped: Counter<'reason'>;
  eventsRejected: Counter;
  produceDuration: Histogram;
  spoolBytes: Gauge;
  queueBytes: Gauge;
  kafkaUp: Gauge;
}

export function createIngestMetrics(metrics: Metrics): IngestMetrics {
  return {
    completions: metrics.counter('maniac_completions_total', 'Chat completions by outcome', [
      'status',
      'stream',
    ]),
    attemptFailures: metrics.counter('maniac_upstream_attempt_failures_total', 'Failed upstream attempts', [
      'provider',
      'reason',
    ]),
    eventsProduced: metrics.counter(
      'maniac_events_produced_total',
      'Completion events acknowledged by Kafka',
    ),
    eventsSpooled: metrics.counter(
      'maniac_events_spooled_total',
      'Completion events written to the local spool',
    ),
    eventsReplayed: metrics.counter('maniac_events_replayed_total', 'Spooled events replayed into Kafka'),
    eventsDropped: metrics.counter('maniac_events_dropped_total', 'Events that could not be kept', [
      'reason',
    ]),
    eventsRejected: metrics.counter(
      'maniac_events_rejected_total',
      'Events Kafka refused as too large for the topic (kept on disk under <spool dir>/rejected)',
    ),
    produceDuration: metrics.histogram(
      'maniac_produce_batch_seconds',
      'Time to produce one batch to Kafka',
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    ),
    spoolBytes: metrics.gauge('maniac_spool_bytes', 'Bytes waiting in the local spool'),
    queueBytes: metrics.gauge(
      'maniac_event_queue_bytes',
      'Encoded event bytes waiting in memory for the next produce (bounded by kafka.queue_max_mb)',
    ),
    kafkaUp: metrics.gauge('maniac_kafka_up', '1 when the last produce to Kafka succeeded'),
  };
}
