//! Where the runtime reads the time. The engine never does: it is given
//! `now` by the runtime, and this is the runtime's one source of it.

use jiff::{SignedDuration, Timestamp};
use std::time::{Duration, Instant};

pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
    /// How long to really sleep for `d` of this clock's time.
    fn real(&self, d: SignedDuration) -> Duration;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
    fn real(&self, d: SignedDuration) -> Duration {
        Duration::try_from(d).unwrap_or_default()
    }
}

/// A clock that starts at `origin` and runs `speed` times faster than real
/// time: the demo replays a week in a minute on it.
pub struct ScaledClock {
    origin: Timestamp,
    started: Instant,
    speed: f64,
}

impl ScaledClock {
    pub fn new(origin: Timestamp, speed: f64) -> Self {
        ScaledClock {
            origin,
            started: Instant::now(),
            speed: speed.max(1e-9),
        }
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> Timestamp {
        let elapsed = self.started.elapsed().as_secs_f64() * self.speed;
        self.origin + SignedDuration::from_secs_f64(elapsed)
    }
    fn real(&self, d: SignedDuration) -> Duration {
        Duration::from_secs_f64((d.as_secs_f64() / self.speed).max(0.0))
    }
}
