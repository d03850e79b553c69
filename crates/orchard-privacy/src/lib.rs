//! `orchard-privacy`: the machinery behind Orchard's privacy promises.
//!
//! For now: the [`vault`], which keeps API keys encrypted at rest (promise L2).

pub mod vault;
