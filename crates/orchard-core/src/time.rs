//! Wall-clock timestamps stored as milliseconds since the Unix epoch: portable across
//! SQLite and PostgreSQL and cheap to compare.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Milliseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_millis();
        Self(i64::try_from(ms).unwrap_or(i64::MAX))
    }

    /// Wraps a stored value.
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// The stored value.
    pub const fn as_millis(self) -> i64 {
        self.0
    }
}
