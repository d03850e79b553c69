//! People.

use serde::Serialize;

use crate::{Timestamp, UserId};

/// A person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    /// Row id.
    pub id: UserId,
    /// `local` for the one local-studio user, `account` for hosted accounts.
    pub kind: String,
    /// Name shown.
    pub nickname: String,
    /// Created.
    pub created_at: Timestamp,
}
