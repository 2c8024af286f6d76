//! Prometheus metrics (`GET /metrics`): rooms, participants and tracks now; pipeline stage
//! latencies; drops in the media and signaling queues; errors by kind.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use dragoman_rtc::room::RoomStats;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabel {
    stage: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabel {
    queue: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    rooms: Gauge,
    participants: Gauge,
    tracks: Gauge,
    stage_seconds: Family<StageLabel, Histogram>,
    drops: Family<QueueLabel, Counter>,
    errors: Family<KindLabel, Counter>,
    /// Each live room's drop counters at the last scrape, to add only what is new.
    seen_drops: Mutex<HashMap<String, RoomStats>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("dragoman");
        let rooms = Gauge::default();
        let participants = Gauge::default();
        let tracks = Gauge::default();
        // 50 ms to 25.6 s: partial captions are fast, a speech burst after a long sentence
        // is slow.
        let stage_seconds = Family::<StageLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.05, 2.0, 10))
        });
        let drops = Family::<QueueLabel, Counter>::default();
        let errors = Family::<KindLabel, Counter>::default();
        registry.register("rooms", "Rooms with a live call", rooms.clone());
        registry.register(
            "participants",
            "Participants connected",
            participants.clone(),
        );
        registry.register(
            "tracks",
            "Tracks published (audio, video, translated speech)",
            tracks.clone(),
        );
        registry.register(
            "pipeline_stage_seconds",
            "Time a pipeline stage took per utterance: stt (end of audio to final caption), \
             translate (final to translation), speak (text to first audio)",
            stage_seconds.clone(),
        );
        registry.register(
            "queue_drops",
            "Items dropped by full queues: audio (speech-to-text fell behind), speech \
             (translated speech pacer), signaling (a client stopped reading)",
            drops.clone(),
        );
        registry.register("errors", "Errors by kind", errors.clone());
        // Known series exist from the start, so dashboards see zeros rather than nothing.
        for stage in ["stt", "translate", "speak"] {
            let _ = stage_seconds.get_or_create(&StageLabel {
                stage: stage.into(),
            });
        }
        for queue in ["audio", "speech", "signaling"] {
            let _ = drops.get_or_create(&QueueLabel {
                queue: queue.into(),
            });
        }
        Self {
            registry,
            rooms,
            participants,
            tracks,
            stage_seconds,
            drops,
            errors,
            seen_drops: Mutex::new(HashMap::new()),
        }
    }

    /// One utterance's time in a pipeline stage.
    pub fn stage(&self, stage: &str, seconds: f64) {
        self.stage_seconds
            .get_or_create(&StageLabel {
                stage: stage.to_string(),
            })
            .observe(seconds);
    }

    /// Audio packets a speaker's pipeline dropped because it fell behind.
    pub fn audio_shed(&self, packets: u64) {
        self.drops
            .get_or_create(&QueueLabel {
                queue: "audio".into(),
            })
            .inc_by(packets);
    }

    /// One error of `kind` (an API error code, a signaling error code, `pipeline_<stage>`,
    /// `storage`).
    pub fn error(&self, kind: &str) {
        self.errors
            .get_or_create(&KindLabel {
                kind: kind.to_string(),
            })
            .inc();
    }

    /// The live rooms' counters now, by room name.
    pub fn observe_rooms(&self, rooms: &[(String, RoomStats)]) {
        let mut seen = self
            .seen_drops
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut live = HashMap::new();
        for (name, stats) in rooms {
            let before = seen.get(name).copied().unwrap_or_default();
            // Shed audio is counted from the rooms' events ([`Self::audio_shed`]), which a
            // room that ends between two observations still delivers.
            for (queue, now, then) in [
                ("speech", stats.speech_drops, before.speech_drops),
                ("signaling", stats.signaling_drops, before.signaling_drops),
            ] {
                let counter = self.drops.get_or_create(&QueueLabel {
                    queue: queue.to_string(),
                });
                counter.inc_by(now.saturating_sub(then));
            }
            live.insert(name.clone(), *stats);
        }
        *seen = live;
        self.rooms.set(rooms.len() as i64);
        self.participants
            .set(rooms.iter().map(|(_, s)| s.participants as i64).sum());
        self.tracks
            .set(rooms.iter().map(|(_, s)| s.tracks as i64).sum());
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_count_once_and_gauges_follow_the_rooms() {
        let metrics = Metrics::new();
        let stats = RoomStats {
            participants: 2,
            tracks: 3,
            speech_drops: 5,
            ..RoomStats::default()
        };
        metrics.observe_rooms(&[("a".into(), stats)]);
        metrics.observe_rooms(&[("a".into(), stats)]);
        metrics.audio_shed(3);
        metrics.stage("stt", 0.7);
        metrics.error("unauthorized");
        let text = metrics.render();
        assert!(
            text.contains("dragoman_queue_drops_total{queue=\"speech\"} 5"),
            "{text}"
        );
        assert!(
            text.contains("dragoman_queue_drops_total{queue=\"audio\"} 3"),
            "{text}"
        );
        assert!(text.contains("dragoman_participants 2"), "{text}");
        assert!(
            text.contains("dragoman_pipeline_stage_seconds_count{stage=\"stt\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("dragoman_errors_total{kind=\"unauthorized\"} 1"),
            "{text}"
        );
        metrics.observe_rooms(&[]);
        assert!(metrics.render().contains("dragoman_rooms 0"));
    }
}
