//! Storage failures, in words a person can act on.

use std::path::PathBuf;

/// A storage failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist, or belongs to someone else (the two are deliberately
    /// indistinguishable).
    #[error("{what} {id} not found")]
    NotFound {
        /// Kind of thing ("topic", "message", …).
        what: &'static str,
        /// The id or name asked for.
        id: String,
    },
    /// A name that must be unique is taken, or a closed row was asked to change.
    #[error("{0}")]
    Conflict(String),
    /// The file is not SQLite at all.
    #[error(
        "{} is not an Orchard database (the file is not SQLite); move it away or choose another data directory with --data-dir",
        path.display()
    )]
    NotADatabase {
        /// The database file.
        path: PathBuf,
    },
    /// A SQLite database, but not one of Orchard's.
    #[error(
        "{} is a SQLite database but not an Orchard one; Orchard will not add its tables to it. Choose another data directory with --data-dir",
        path.display()
    )]
    NotOrchard {
        /// The database file.
        path: PathBuf,
    },
    /// Another process holds a lock on the database for longer than the busy timeout.
    #[error(
        "the database {} is locked by another process; close the other program using it (another Orchard, or a database tool) and try again",
        path.display()
    )]
    Locked {
        /// The database file.
        path: PathBuf,
    },
    /// Written by a newer Orchard: refused, never "repaired".
    #[error(
        "the database {} was written by a newer Orchard (schema version {found}; this Orchard knows versions up to {known}). Upgrade Orchard to open it; nothing was changed",
        path.display()
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// Highest schema version recorded in the file.
        found: i64,
        /// Highest schema version this build knows.
        known: i64,
    },
    /// A migration recorded in the file differs from the one in this build.
    #[error(
        "the database {} was migrated by a different build of Orchard (schema version {version} differs from this build's); nothing was changed",
        path.display()
    )]
    SchemaMismatch {
        /// The database file.
        path: PathBuf,
        /// The differing version.
        version: i64,
    },
    /// The file or its directory cannot be opened or written.
    #[error("cannot open the database {}: {detail}", path.display())]
    CannotOpen {
        /// The database file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// The pre-migration backup failed; the migration was not run.
    #[error(
        "could not back up the database to {} before upgrading it ({detail}); nothing was changed",
        path.display()
    )]
    Backup {
        /// Where the backup was to be written.
        path: PathBuf,
        /// Why it failed.
        detail: String,
    },
    /// A stored value that does not parse (a bug, or a hand-edited database).
    #[error("the database holds an unexpected value: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Other(String),
}
